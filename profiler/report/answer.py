"""The report's first screen: LSTM or Transformer, why, and from which n.

Three things, before any other table or list:

1. the headline figure: latency against n for each family, the phases side by
   side, each curve labelled with its fitted exponent, the LSTM–Transformer
   crossover marked (or "no crossover up to n = …");
2. the verdict table (verdicts.py): the textbook claims against this run;
3. at most five key findings, one short sentence each.

Everything is taken at one reference configuration (verdicts.reference: the first
device both families ran on, the largest batch, the most threads), so the figure,
the table and the sentences speak about the same measurements. Every other
number lives in its topic's section.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from profiler.analyze.tables import ok, status_counts
from profiler.records import PHASES
from profiler.report import plotting
from profiler.report import verdicts as V
from profiler.report.document import Bullets, Image, Paragraph, Section, Table
from profiler.report.formats import fmt_bytes, fmt_exp, fmt_n, fmt_pct, fmt_x
from profiler.report.frames import where
from profiler.report.inputs import ReportInputs
from profiler.train.summary import claims, results_table

TITLE = "The answer: LSTM or Transformer, and from which n"
FIGURE = "headline"  # fig_dir/headline.png
MAX_FINDINGS = 5
LABELS = {"lstm": "LSTM", "gru": "GRU", "transformer": "Transformer", "mingru": "minGRU",
          "minlstm": "minLSTM"}
# The two families the textbook compares are drawn strong; any other (the scan
# family, a user's model) lighter, for context.
MAIN = (V.RECURRENT_FAMILY, V.ATTENTION_FAMILY)
MS = 1e3  # latency is drawn in ms


def status_line(counts: dict, n_missing: int) -> str:
    """'112 points: 107 ok, 2 oom, 1 timeout, 1 skipped, 1 never recorded.'"""
    total = sum(counts.values())
    parts = [f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: kv[0] != "ok")]
    if n_missing:
        parts.append(f"{n_missing} never recorded")
    text = f"{total + n_missing} points: " + ", ".join(parts) + "."
    if n_missing or set(counts) - {"ok"}:
        text += " This run is partial: see 'What is missing'; fits use the ok points only."
    return text


def label(family: str) -> str:
    return LABELS.get(family, family)


def _config(ref: dict) -> dict:
    return {k: ref[k] for k in ("device", "dtype", "batch_size", "threads")}


def phases(records: pd.DataFrame, ref: dict) -> list[str]:
    """The phases both main families ran at the reference configuration (decode has
    its own section: its n is a context, not a sequence processed)."""
    ran = where(ok(records), **_config(ref))
    both = set.intersection(*(set(ran[ran["family"] == f]["phase"]) for f in MAIN))
    both.discard("decode")
    return [p for p in PHASES if p in both] + sorted(both - set(PHASES))


def crossover(inputs: ReportInputs, ref: dict, phase: str) -> dict | None:
    """The LSTM–Transformer row of the crossovers table at this configuration and phase."""
    table, records = inputs.crossovers, inputs.records
    if table.empty:
        return None
    rows = where(table, phase=phase, **_config(ref))
    ran = where(ok(records), phase=phase, **_config(ref))
    models = {f: set(ran[(ran["family"] == f) & (ran["attention"] == "default")]["model"])
              for f in MAIN}
    for _, r in rows.iterrows():
        pair = {r["curve_a"], r["curve_b"]}
        if pair & models[MAIN[0]] and pair & models[MAIN[1]]:
            return r.to_dict()
    return None


def crossover_text(row: dict | None, ran: pd.DataFrame) -> str:
    """'crossover at n ≈ 1100: Transformer slower beyond' or 'no crossover up to n = 4096'."""
    if row is None:
        return "the two families share fewer than 2 sequence lengths"
    if row["crossings"]:
        return (f"crossover at n ≈ {fmt_n(row['n_cross'])}: "
                f"{label_of(ran, row['slower_after'])} slower beyond")
    return (f"no crossover up to n = {fmt_n(row['n_max'])}: "
            f"{label_of(ran, row['faster_throughout'])} faster throughout")


def _curve_exponents(exps: pd.DataFrame, ref: dict, phase: str) -> dict[str, float]:
    """family -> upper-range latency exponent (the whole-range one with < 3 upper points)."""
    if exps.empty:
        return {}
    rows = where(exps[exps["attention"] == "default"], phase=phase, **_config(ref))
    return {r["family"]: (r["k_upper"] if not math.isnan(r["k_upper"]) else r["k"])
            for _, r in rows.iterrows()}


def draw_headline(inputs: ReportInputs, ref: dict, fig_dir: Path) -> Image | None:
    """Latency vs n per family, one panel per phase; saved as figures/headline.png."""
    records = inputs.records
    shown = phases(records, ref)
    if not shown:
        return None
    ran = where(records[(records["status"] == "ok") & (records["attention"] == "default")],
                 **_config(ref))
    families = [f for f in MAIN if f in set(ran["family"])] + sorted(
        set(ran["family"]) - set(MAIN))
    by_model = plotting.palette(ran["model"])  # the colours of the other latency figures
    colors = {fam: by_model[_model(ran, fam)] for fam in families}
    plotting.set_theme()
    fig, axes = plt.subplots(1, len(shown), figsize=(4.8 * len(shown), 3.7), squeeze=False)
    for ax, phase in zip(axes[0], shown, strict=True):
        ks = _curve_exponents(inputs.exponents, ref, phase)
        for fam in families:
            rows = ran[(ran["family"] == fam) & (ran["phase"] == phase)].sort_values("seq_len")
            if rows.empty:
                continue
            clean, flagged = rows[~rows["contended"]], rows[rows["contended"]]
            k = ks.get(fam)
            name = label(fam) + ("" if k is None or math.isnan(k) else f"  k = {fmt_exp(k)}")
            strong = fam in MAIN
            ax.plot(clean["seq_len"], clean["latency_s"] * MS, marker="o", color=colors[fam],
                    linewidth=2.4 if strong else 1.3, alpha=1.0 if strong else 0.75,
                    markersize=6 if strong else 4, label=name)
            if len(flagged):  # contended: measured beside other work, never fitted
                ax.plot(flagged["seq_len"], flagged["latency_s"] * MS, "o", mfc="none",
                        color=colors[fam], markersize=8, label=f"{label(fam)} (contended)")
        row = crossover(inputs, ref, phase)
        text = crossover_text(row, ran)
        if row is not None and row["crossings"]:
            ax.axvline(row["n_cross"], color="0.3", linestyle="--", linewidth=1.2)
        plotting.log2_x(ax, ran[ran["phase"] == phase]["seq_len"])
        ax.set_yscale("log")
        ax.set_title(f"{phase.replace('_', ' ')}\n{text}", fontsize=10.5)
        ax.set_xlabel("sequence length n (tokens)")
        ax.set_ylabel("latency per call (ms)")
        ax.legend(loc="upper left", fontsize=9, title="k: slope over the upper n",
                  title_fontsize=8)
    fig.suptitle(f"Latency vs sequence length · {ref['device']}, {ref['dtype']}, batch "
                 f"{ref['batch_size']}, {ref['threads']} thread"
                 f"{'' if ref['threads'] == 1 else 's'}", y=1.0, fontsize=12)
    fig.tight_layout()
    return plotting.image(fig, fig_dir, FIGURE,
                 "LSTM vs Transformer: latency against sequence length",
                 "Latency per call (the floor: the fastest clean sample over the point's "
                 "instances) at the configuration every comparison on this screen uses, "
                 "log-log; k is the fitted exponent over the upper half of n (latency ∝ "
                 "nᵏ: 1 linear, 2 quadratic). Hollow markers: contended points, "
                 "left out of every fit.")[0]


def _model(ran: pd.DataFrame, family: str) -> str:
    names = sorted(ran[ran["family"] == family]["model"].unique())
    return names[0] if names else family


def verdict_table(rows: list[V.Verdict]) -> Table:
    return Table(["claim", "what the textbooks say", "measured here", "verdict"],
                 [[v.topic, v.claim, v.measured, v.cell()] for v in rows])


# ---- findings: at most five short sentences ----------------------------------------------

def crossover_finding(inputs: ReportInputs, ref: dict) -> str | None:
    parts = []
    ran = ok(inputs.records)
    for phase in phases(inputs.records, ref):
        row = crossover(inputs, ref, phase)
        if row is None:
            continue
        phase_name = phase.replace("_", " ")
        if row["crossings"]:
            slower = row["slower_after"]
            faster = row["curve_a"] if slower == row["curve_b"] else row["curve_b"]
            parts.append(f"for {phase_name} the {label_of(ran, faster)} is faster up to "
                         f"n ≈ {fmt_n(row['n_cross'])}, the {label_of(ran, slower)} beyond")
        else:
            faster = row["faster_throughout"]
            ratio = row["ratio_at_max"]  # latency of curve_a / curve_b at the largest n
            ratio = 1 / ratio if faster == row["curve_a"] else ratio
            parts.append(f"for {phase_name} the {label_of(ran, faster)} is faster at every n "
                         f"up to {fmt_n(row['n_max'])} ({fmt_x(ratio)} at n = "
                         f"{fmt_n(row['n_max'])})")
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def label_of(ran: pd.DataFrame, model: str) -> str:
    """The family label of a model name (a curve of the crossovers table)."""
    fam = ran[ran["model"] == model]["family"]
    return label(fam.iloc[0] if len(fam) else model)


def quadratic_finding(inputs: ReportInputs, ref: dict) -> str | None:
    decs = inputs.decompositions
    if decs.empty:
        return None
    shown = phases(inputs.records, ref)
    rows = where(decs[(decs["family"] == V.ATTENTION_FAMILY)
                       & decs["phase"].isin(shown)], **_config(ref))
    if rows.empty:
        return None
    r = rows.sort_values("quadratic_share_at_max").iloc[-1]
    return (f"At n = {fmt_n(r['n_max'])} attention's n² term is "
            f"{fmt_pct(r['quadratic_share_at_max'])} of the Transformer's "
            f"{r['phase'].replace('_', ' ')} time (fitted a + b·n + c·n²).")


def scan_finding(records: pd.DataFrame, ref: dict) -> str | None:
    """The scan family against the LSTM: same recurrence shape, parallel over time."""
    ran = where(ok(records), **_config(ref))
    scan = sorted(set(ran["family"]) & {"mingru", "minlstm"})
    shown = phases(records, ref)
    if not scan or not shown:
        return None
    phase = shown[0]
    a = ran[(ran["family"] == V.RECURRENT_FAMILY) & (ran["phase"] == phase)]
    b = ran[(ran["family"] == scan[0]) & (ran["phase"] == phase)]
    shared = set(a["seq_len"]) & set(b["seq_len"])
    if not shared:
        return None
    n = max(shared)
    ratio = (a[a["seq_len"] == n]["latency_s"].iloc[0] / b[b["seq_len"] == n]["latency_s"].iloc[0])
    faster = f"{fmt_x(ratio)} faster than" if ratio >= 1 else f"{fmt_x(1 / ratio)} slower than"
    return (f"{label(scan[0])}, a recurrence computed as a parallel scan, is {faster} the LSTM "
            f"at n = {fmt_n(n)} ({phase.replace('_', ' ')}).")


def memory_finding(records: pd.DataFrame, ref: dict) -> str | None:
    ran = where(ok(records, "peak_memory_bytes"), **_config(ref))
    shown = phases(records, ref)
    if not shown:
        return None
    phase = shown[-1]  # the heaviest phase shown: train_step when it ran
    rows = ran[ran["phase"] == phase]
    per = {f: rows[rows["family"] == f] for f in MAIN}
    shared = set(per[MAIN[0]]["seq_len"]) & set(per[MAIN[1]]["seq_len"])
    if not shared:
        return None
    n = max(shared)
    mem = {f: per[f][per[f]["seq_len"] == n]["peak_memory_bytes"].iloc[0] for f in MAIN}
    return (f"Peak memory at n = {fmt_n(n)} ({phase.replace('_', ' ')}): Transformer "
            f"{fmt_bytes(mem[MAIN[1]])}, LSTM {fmt_bytes(mem[MAIN[0]])}.")


def health_finding(records: pd.DataFrame) -> str | None:
    """Only when something is off: failed or contended points."""
    failed = records[records["status"] != "ok"]
    contended = records[(records["status"] == "ok") & records["contended"]]
    parts = []
    if len(failed):
        counts = failed["status"].value_counts()
        parts.append(f"{len(failed)} of {len(records)} points did not run ("
                     + ", ".join(f"{v} {k}" for k, v in counts.items())
                     + "; see What is missing)")
    if len(contended):
        parts.append(f"{len(contended)} {'was' if len(contended) == 1 else 'were'} contended "
                     "and left out of every fit (see Run health)")
    return "; ".join(parts) + "." if parts else None


def key_findings(inputs: ReportInputs, ref: dict) -> list[str]:
    """At most MAX_FINDINGS sentences, most important first."""
    records = inputs.records
    found = [crossover_finding(inputs, ref), quadratic_finding(inputs, ref),
             scan_finding(records, ref), memory_finding(records, ref), health_finding(records)]
    return [s for s in found if s][:MAX_FINDINGS]


def train_claims(inputs: ReportInputs) -> list[dict] | None:
    """The training experiment's claim rows, when the report was given its folder."""
    run = inputs.train
    return None if run is None else claims(results_table(run.train), run.gradient, run.recall)


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    """The first screen: status line, headline figure, verdict table, key findings."""
    records = inputs.records
    counts = status_counts(records)
    blocks: list = [Paragraph(status_line(counts, len(inputs.missing_points)))]
    if not counts.get("ok"):
        blocks.append(Paragraph("No point ran successfully, so there is nothing to fit."))
        return Section(TITLE, blocks)
    ref = V.reference(records)
    if ref is None:
        blocks.append(Paragraph("This run has no clean LSTM and Transformer points on a "
                                "shared device, so there is no comparison to answer with; "
                                "every measurement is in the sections below."))
        return Section(TITLE, blocks)
    figure = draw_headline(inputs, ref, fig_dir)
    if figure is not None:
        blocks.append(figure)
    rows = V.gather(inputs, train_claims(inputs))
    if rows:
        blocks.append(verdict_table(rows))
    findings = key_findings(inputs, ref)
    if findings:
        blocks.append(Bullets(findings))
    return Section(TITLE, blocks)
