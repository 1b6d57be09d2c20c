"""Open an HTML report in headless Chromium, offline, and fail on broken images or console errors.

    python tests/browser_check.py RUN_DIR/report.html [--self-test] [--chromium PATH]
                                  [--screenshot PNG] [--window 1280x900]

The report is copied alone into an empty temporary folder (so nothing beside it
can be loaded: it must be self-contained) with two small probe scripts added:
one at the top of <head> that records console errors/warnings, script errors
and failed resource loads, and one at the end that, on ``load``, writes what it
saw plus every image's decoded size into a ``data-check`` attribute. Chromium's
``--dump-dom`` prints the DOM after load; ``--enable-logging=stderr`` prints every
console message, which a report without scripts should not produce at all.
``--self-test`` first checks a sabotaged copy (a broken image, a script error)
and fails unless both are caught, so the check itself is known to work.
``--screenshot`` saves what a reader sees first (the window's size, default
1280×900 CSS pixels), rendered by the same offline Chromium.
Needs Chromium from the OS packages: ``apt-get install -y chromium``.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--enable-logging=stderr", "--v=0",
         # offline: any host name fails to resolve, so a remote URL would be a broken load
         "--host-resolver-rules=MAP * ~NOTFOUND",
         # run timers until the page is idle (or 10 s of virtual time) before dumping
         "--virtual-time-budget=10000", "--dump-dom"]

HEAD_PROBE = """<script>
window.__problems = [];
for (const level of ["error", "warn"]) {
  const original = console[level];
  console[level] = (...args) => { window.__problems.push(level + ": " + args.join(" "));
                                  original.apply(console, args); };
}
// capture phase: <img>/<link> load errors do not bubble to window
window.addEventListener("error", (e) => window.__problems.push("error: " +
  (e.message || ("failed to load " + ((e.target && (e.target.src || e.target.href)) || "?"))
   .slice(0, 120))), true);
</script>"""

TAIL_PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map((i) => ({alt: i.alt, ok: i.complete &&
    i.naturalWidth > 0, width: i.naturalWidth, data: i.src.startsWith("data:image/")}));
  document.body.setAttribute("data-check", JSON.stringify({images, problems: window.__problems}));
});
</script>"""


def find_chromium(explicit: str | None) -> str:
    for name in [explicit] if explicit else ["chromium", "chromium-browser", "google-chrome"]:
        path = shutil.which(name) or (name if name and Path(name).is_file() else None)
        if path:
            return path
    sys.exit("browser_check: Chromium not found; install it with `apt-get install -y chromium`")


def static_problems(text: str) -> list[str]:
    """Problems visible without a browser: remote or non-embedded references."""
    out = []
    for attr, url in re.findall(r'\b(src|href)\s*=\s*"([^"]*)"', text):
        if re.match(r"^(https?:)?//", url):
            out.append(f"{attr} points off the page (not offline): {url[:80]}")
        elif attr == "src" and not url.startswith("data:"):
            out.append(f"src is not embedded as a data: URI: {url[:80]}")
    return out


def browser_problems(text: str, chromium: str) -> tuple[list[str], dict]:
    """Load ``text`` as a lone file in headless Chromium; (problems, what the probe saw)."""
    with tempfile.TemporaryDirectory(prefix="browser_check_") as tmp:
        page = Path(tmp) / "report.html"
        probed = text.replace("<head>", "<head>" + HEAD_PROBE, 1)
        probed = probed.replace("</body>", TAIL_PROBE + "</body>", 1)
        page.write_text(probed, encoding="utf-8")
        proc = subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp}/profile",
                               page.as_uri()], capture_output=True, text=True, timeout=120)
    problems = []
    if proc.returncode != 0:
        problems.append(f"chromium exited with {proc.returncode}: {proc.stderr[-300:]}")
    # every console message of the page; the report runs no script, so there must be none
    problems += [f"console: {line.split(']', 1)[-1].strip()}" for line in
                 proc.stderr.splitlines() if ":CONSOLE" in line]
    found = re.search(r'data-check="([^"]*)"', proc.stdout)
    if not found:
        return problems + ["the page did not finish loading (no probe result in the DOM)"], {}
    seen = json.loads(html.unescape(found.group(1)))
    problems += seen["problems"]
    problems += [f"broken image: {i['alt'] or '?'}" for i in seen["images"] if not i["ok"]]
    problems += [f"image not embedded: {i['alt'] or '?'}" for i in seen["images"]
                 if not i["data"]]
    if not seen["images"]:
        problems.append("no images on the page")
    return problems, seen


def screenshot(path: Path, out: Path, window: str, chromium: str) -> list[str]:
    """The first screen of the lone, unprobed report as a PNG; problems, if any."""
    width, _, height = window.partition("x")
    flags = [f for f in FLAGS if f not in ("--dump-dom", "--enable-logging=stderr")]
    with tempfile.TemporaryDirectory(prefix="browser_shot_") as tmp:
        page = Path(tmp) / "report.html"
        shutil.copyfile(path, page)
        shot = Path(tmp) / "shot.png"
        proc = subprocess.run([chromium, *flags, f"--user-data-dir={tmp}/profile",
                               "--hide-scrollbars", f"--window-size={int(width)},{int(height)}",
                               f"--screenshot={shot}", page.as_uri()],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or not shot.is_file():
            return [f"screenshot failed ({proc.returncode}): {proc.stderr[-300:]}"]
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, out)
    print(f"browser_check: first screen ({window}) saved to {out}")
    return []


def check(path: Path, chromium: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    problems, seen = browser_problems(text, chromium)
    problems = static_problems(text) + problems
    if not problems:
        sizes = ", ".join(f"{i['alt']} ({i['width']} px)" for i in seen["images"])
        print(f"browser_check: {path}: loaded offline, {len(seen['images'])} images "
              f"decoded, no console errors: {sizes}")
    return problems


def self_test(path: Path, chromium: str) -> None:
    """The check must catch a broken image and a script error in a sabotaged copy."""
    bad = path.read_text(encoding="utf-8").replace(
        "</main>", '<img src="figures/nowhere.png" alt="planted"><script>noSuchFn()</script>'
                   "</main>", 1)
    problems, _ = browser_problems(bad, chromium)
    text = "\n".join(problems)
    if "planted" not in text or "noSuchFn" not in text:
        sys.exit(f"browser_check: self-test failed, the sabotage went unnoticed:\n{text}")
    print(f"browser_check: self-test ok ({len(problems)} planted problems caught)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("html", type=Path)
    p.add_argument("--chromium", default=None, help="browser binary (default: from PATH)")
    p.add_argument("--self-test", action="store_true",
                   help="first prove the check catches a planted broken image and script error")
    p.add_argument("--screenshot", type=Path, default=None, metavar="PNG",
                   help="also save the first screen as seen in the browser")
    p.add_argument("--window", default="1280x900", help="window size for --screenshot, WxH")
    args = p.parse_args(argv)
    if not args.html.is_file():
        sys.exit(f"browser_check: {args.html}: no such file")
    chromium = find_chromium(args.chromium)
    if args.self_test:
        self_test(args.html, chromium)
    problems = check(args.html, chromium)
    if args.screenshot is not None:
        problems += screenshot(args.html, args.screenshot, args.window, chromium)
    for line in problems:
        print(f"browser_check: {args.html}: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
