"""The textbook comparison, row by row, against this run: claim, measured, verdict.

Every write-up of "why Transformers replaced LSTMs" gives the same table. Each
row here states one of its claims, the number this run measured for it, and a
verdict from a rule written as code:

    holds here           the measurement agrees with the claim
    does not hold here   it was measured, and it disagrees
    not settled here     it was measured, but the threshold lies within the
                         measurement's own 95% interval: another run of the same
                         code could land on either side (docs/report.md)
    not measured         this run has no such measurement; the row names the
                         preset or command that would measure it

A number compared with a threshold carries its uncertainty: the 95% intervals of the
points it comes from (analyze.tables.intervals, from their instances), combined in
log space. A point without an interval (one instance) counts as exact, and the
threshold alone decides, as it did before intervals existed.

A rule takes plain numbers (exponents, speedups, FLOP/s), so each is tested on
hand-made values; ``gather`` reads those numbers from the run (its records and the
fitted tables ReportInputs holds), always at
the same reference configuration (``reference``) for both families.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from profiler.analyze.fit import fit_power_law, upper_range
from profiler.analyze.tables import ok
from profiler.report.formats import fmt_exp, fmt_n, fmt_pct, fmt_x
from profiler.report.inputs import ReportInputs

HOLDS = "holds here"
FAILS = "does not hold here"
UNSETTLED = "not settled here"
NOT_MEASURED = "not measured in this run"

RECURRENT_FAMILY = "lstm"
ATTENTION_FAMILY = "transformer"

# Thresholds of the rules, each with its reason.
LINEAR_BAND = (0.85, 1.15)  # "∝ n": the 95% intervals of clean curves are ±0.05–0.1 wide
PARALLEL_BELOW = 0.85  # short sequences cost less than proportionally: positions run at once
QUADRATIC_FROM = 1.3  # an upper-range exponent this far above 1 shows the n² term
# Time has a fixed cost (framework, launches) that bends a log-log slope down: a
# Transformer whose n² term is 90% of its latency at n = 4096 can still show an
# upper-range exponent of 1.27. So time is judged by the fitted a + b·n + c·n²:
N2_DOMINANT = 0.5  # the n² term is most of the Transformer's latency at its largest n
# The LSTM side is judged by its upper-range exponent's interval, not its own n² share:
# one slow point at the largest n (a per-process mode, see docs/measurement.md) gave
# an LSTM curve with k = 1.14 (interval including 1) a fitted n² share of 28%.
# "gains more" / "faster": by a material difference, 10% (about the spread of a point's
# instances). With intervals, a ratio must clear it beyond its own 95% interval: two
# runs of the same code here put the Transformer/LSTM FLOP/s ratio at 1.06x and 1.11x,
# one verdict each way, when each number was uncertain by 10-20%.
GAIN_MARGIN = 1.10
CONSTANT_BELOW = 0.2  # per-token cost or state "does not grow with context"
GROWS_FROM = 0.8  # the KV cache grows about ∝ n (exponent 1; fixed buffers lower it)


@dataclass(frozen=True)
class Verdict:
    topic: str  # the row's heading: "Scalability in n: time"
    claim: str  # what the textbooks say
    measured: str  # what this run measured, with units; or what it would take
    verdict: str  # HOLDS, FAILS or NOT_MEASURED
    why: str = ""  # the rule's reason, in a few words

    def cell(self) -> str:
        """The verdict column: 'does not hold here: intervals overlap'."""
        return f"{self.verdict}: {self.why}" if self.why else self.verdict


def _missing(*values) -> bool:
    return any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values)


def _side(value: float, half: float, threshold: float) -> int:
    """+1 if ``value`` is at least ``threshold`` even at the low end of value ± half,
    -1 if below it even at the high end, 0 if the threshold lies within (a half of 0:
    the value alone decides, +1 or -1)."""
    if value - half >= threshold:
        return 1
    if value + half < threshold:
        return -1
    return 0


def _log_side(ratio: float, half: float, threshold: float) -> int:
    """_side for a ratio whose interval is ± ``half`` in log space."""
    return _side(math.log(ratio), half, math.log(threshold)) if ratio > 0 else -1


# ---- rules: numbers in, verdict out -------------------------------------------------

Rule = tuple[str, str]  # (verdict, why)


def sequential_rule(recurrent_k: float | None, attention_low_k: float | None,
                    attention_half: float = 0.0) -> Rule:
    """The LSTM's latency ∝ n (one step after another) while the Transformer's grows
    less than proportionally over short sequences (all positions at once): its exponent
    there is below PARALLEL_BELOW beyond its 95% half-width ``attention_half``."""
    if _missing(recurrent_k, attention_low_k):
        return NOT_MEASURED, ""
    if not LINEAR_BAND[0] <= recurrent_k <= LINEAR_BAND[1]:
        return FAILS, f"the LSTM's exponent is outside {LINEAR_BAND[0]}–{LINEAR_BAND[1]}"
    side = _side(attention_low_k, 0.0 if _missing(attention_half) else attention_half,
                 PARALLEL_BELOW)
    if side > 0:
        return FAILS, "the Transformer's short-n cost grows about as fast as the LSTM's"
    if side == 0:
        return UNSETTLED, (f"the Transformer's short-n exponent is within its 95% interval "
                           f"of {PARALLEL_BELOW}")
    return HOLDS, "LSTM ∝ n, Transformer sublinear at short n"


def gains_rule(pairs: dict[str, tuple]) -> Rule:
    """{kind: (attention gain, recurrent gain[, half])} per kind of parallelism
    measured, ``half`` the 95% half-width of their ratio in log space (0 without): the
    claim holds when the Transformer gains more, by GAIN_MARGIN beyond that, in every
    one, and fails when it falls short of it beyond that in any."""
    sides = {}
    for kind, (a, r, *half) in pairs.items():
        if _missing(a, r) or r <= 0:
            continue
        half = half[0] if half and not _missing(half[0]) else 0.0
        sides[kind] = _log_side(a / r, half, GAIN_MARGIN)
    if not sides:
        return NOT_MEASURED, ""
    lose = [k for k, side in sides.items() if side < 0]
    if lose:
        return FAILS, "the LSTM gains as much or more from " + " and ".join(lose)
    close = [k for k, side in sides.items() if side == 0]
    if close:
        return UNSETTLED, ("the two gains from " + " and ".join(close) +
                           f" are within their 95% interval of {GAIN_MARGIN}×")
    return HOLDS, "the Transformer gains more from " + " and ".join(sides)


def quadratic_rule(attention: tuple[float, float], recurrent: tuple[float, float]) -> Rule:
    """(exponent, interval bound) pairs: the Transformer's upper-range exponent is at
    least QUADRATIC_FROM, and above the LSTM's beyond their 95% intervals (the
    attention's lower bound over the recurrent's upper bound; point values when a
    fit has no interval)."""
    (a_k, a_low), (r_k, r_high) = attention, recurrent
    if _missing(a_k, r_k):
        return NOT_MEASURED, ""
    a_low = a_k if _missing(a_low) else a_low
    r_high = r_k if _missing(r_high) else r_high
    if a_k < QUADRATIC_FROM:
        return FAILS, f"the Transformer's exponent is below {QUADRATIC_FROM}"
    if a_low <= r_high:
        return FAILS, "the two exponents' 95% intervals overlap"
    return HOLDS, "the Transformer's exponent is clearly the larger"


def n2_share_rule(attention_share: float | None, recurrent: tuple[float, float]) -> Rule:
    """The fitted c·n² term is most of the Transformer's latency at its largest n, and
    the LSTM's (upper-range exponent, its 95% lower bound) is consistent with linear:
    the lower bound (the exponent without an interval) is at most LINEAR_BAND[1]."""
    r_k, r_low = recurrent
    if _missing(attention_share, r_k):
        return NOT_MEASURED, ""
    r_low = r_k if _missing(r_low) else r_low
    if attention_share < N2_DOMINANT:
        return FAILS, f"the n² term is under {N2_DOMINANT:.0%} of the Transformer's time"
    if r_low > LINEAR_BAND[1]:
        return FAILS, "the LSTM's time grows faster than linearly too"
    return HOLDS, "n² dominates the Transformer's time; the LSTM's is linear"


def faster_rule(attention_rate: float | None, recurrent_rate: float | None,
                half: float = 0.0) -> Rule:
    """The Transformer achieves at least GAIN_MARGIN × the LSTM's FLOP/s, beyond the
    95% half-width ``half`` of their ratio in log space."""
    if _missing(attention_rate, recurrent_rate) or recurrent_rate <= 0:
        return NOT_MEASURED, ""
    side = _log_side(attention_rate / recurrent_rate, 0.0 if _missing(half) else half,
                     GAIN_MARGIN)
    if side > 0:
        return HOLDS, "the Transformer achieves more FLOP/s"
    if side == 0:
        return UNSETTLED, f"the ratio is within its 95% interval of {GAIN_MARGIN}×"
    return FAILS, "the LSTM achieves as many FLOP/s or more"


def streaming_rule(recurrent: tuple[float, float], attention: tuple[float, float]) -> Rule:
    """(latency exponent, state exponent) of decoding one token vs context: the LSTM's
    are both flat, the Transformer's state (KV cache) grows and its per-token latency
    grows faster than the LSTM's."""
    (r_lat, r_state), (a_lat, a_state) = recurrent, attention
    if _missing(r_lat, r_state, a_lat, a_state):
        return NOT_MEASURED, ""
    if r_lat > CONSTANT_BELOW or r_state > CONSTANT_BELOW:
        return FAILS, "the LSTM's per-token cost or state grows with context"
    if a_state < GROWS_FROM or a_lat <= r_lat:
        return FAILS, "the Transformer's per-token cost or cache does not grow"
    return HOLDS, "LSTM flat, Transformer's cache and time grow"


def train_claim_rule(train_verdict: str | None) -> Rule:
    """The training experiment's own verdict ("supported ...", "contradicted ...",
    "not shown ...") in this table's words."""
    if not train_verdict:
        return NOT_MEASURED, ""
    return (HOLDS if train_verdict.startswith("supported") else FAILS), \
        f"training experiment: {train_verdict}"


# ---- gathering the numbers at one configuration -------------------------------------

def reference(records: pd.DataFrame) -> dict | None:
    """Where both families are compared: the first device both ran on, the most common
    dtype, the largest batch, the most threads; None without both families."""
    ran = ok(records)
    fams = ran.groupby("device")["family"].agg(set)
    devices = [d for d, f in fams.items() if {RECURRENT_FAMILY, ATTENTION_FAMILY} <= f]
    if not devices:
        return None
    ran = ran[ran["device"] == sorted(devices)[0]]
    return {"device": sorted(devices)[0], "dtype": ran["dtype"].mode().iloc[0],
            "batch_size": int(ran["batch_size"].max()), "threads": int(ran["threads"].max())}


def _at(df: pd.DataFrame, family: str, **eq) -> pd.DataFrame:
    """Rows of one family at the given column values, default attention only."""
    df = df[(df["family"] == family) & (df["attention"].fillna("default") == "default")]
    for key, value in eq.items():
        df = df[df[key] == value]
    return df


def _phase(records: pd.DataFrame, ref: dict) -> str | None:
    """inference when it ran, else the first phase both families share (not decode)."""
    ran = ok(records)
    shared = None
    for family in (RECURRENT_FAMILY, ATTENTION_FAMILY):
        phases = set(_at(ran, family, device=ref["device"])["phase"]) - {"decode"}
        shared = phases if shared is None else shared & phases
    if not shared:
        return None
    return "inference" if "inference" in shared else sorted(shared)[0]


def log_halves(ci: pd.DataFrame) -> dict[str, float]:
    """point_id -> the 95% half-width of its latency in log space, from ``ci`` (the
    table analyze.tables.intervals makes from the points' instances); 0 where a point
    has no interval (one instance)."""
    return {pid: math.log1p(rel) if not _missing(rel) else 0.0
            for pid, rel in zip(ci["point_id"], ci["ci_rel"], strict=True)}


def _half(rows: pd.DataFrame, halves: dict[str, float]) -> list[float]:
    return [halves.get(pid, 0.0) for pid in rows["point_id"]]


def slope_half(ns, halves: list[float]) -> float:
    """95% half-width of a least-squares slope of log latency on log n, from each
    point's half-width in log latency (independent errors): sqrt(sum w_i^2 h_i^2), w_i
    the points' weights in the slope, (x_i - mean x) / sum (x_j - mean x)^2."""
    x = [math.log(n) for n in ns]
    mean = sum(x) / len(x)
    sxx = sum((v - mean) ** 2 for v in x)
    if sxx <= 0:
        return math.nan
    return math.sqrt(sum(((v - mean) / sxx) ** 2 * h ** 2 for v, h in zip(x, halves,
                                                                           strict=True)))


def _low_range_exponent(rows: pd.DataFrame, halves: dict[str, float]
                        ) -> tuple[float, int, float]:
    """Power-law exponent over the smaller half of the n values (≥ 3 points): where
    fixed costs and parallel width, not the n² term, set the cost; with the largest n
    used and the exponent's 95% half-width from the points' intervals (slope_half)."""
    rows = rows.sort_values("seq_len")
    ns = sorted(rows["seq_len"].unique())
    upper = set(upper_range(ns))
    low = [n for n in ns if n not in upper or n == min(upper)] if upper else ns
    low = low if len(low) >= 3 else ns[:3]
    sub = rows[rows["seq_len"].isin(low)]
    fit = fit_power_law(sub["seq_len"], sub["latency_s"])
    if fit is None:
        return math.nan, 0, math.nan
    return fit.exponent, int(max(low)), slope_half(sub["seq_len"], _half(sub, halves))


def _exponent_row(exps: pd.DataFrame, family: str, **eq) -> pd.Series | None:
    rows = _at(exps, family, **eq)
    return rows.iloc[0] if len(rows) else None


def _largest_shared_n(a: pd.DataFrame, b: pd.DataFrame) -> int | None:
    shared = set(a["seq_len"]) & set(b["seq_len"])
    return max(shared) if shared else None


def _value(rows: pd.DataFrame, n: int, column: str) -> float:
    rows = rows[rows["seq_len"] == n][column].dropna()
    return float(rows.iloc[0]) if len(rows) else math.nan


def _half_at(rows: pd.DataFrame, n: int, halves: dict[str, float]) -> float:
    """The log half-width of the row at ``n`` (_value's row; 0 without one)."""
    ids = rows[rows["seq_len"] == n]["point_id"]
    return halves.get(ids.iloc[0], 0.0) if len(ids) else 0.0


def _ratio_text(ratio: float, half: float) -> str:
    """1.06×, 95% 0.93–1.21× with an interval (± ``half`` in log space); 1.06× without."""
    if _missing(ratio, half) or half <= 0:
        return fmt_x(ratio)
    return f"{fmt_x(ratio)}, 95% {ratio * math.exp(-half):.2f}–{fmt_x(ratio * math.exp(half))}"


def sequential_row(inputs: ReportInputs, ref: dict, phase: str,
                   halves: dict[str, float]) -> Verdict:
    """At batch 1 and the fewest threads: the LSTM's exponent over the upper n (past its
    fixed costs, each step costs the same) against the Transformer's over the lower n
    (where all positions go through one matrix product)."""
    ran = ok(inputs.records)
    at = dict(device=ref["device"], dtype=ref["dtype"], batch_size=int(ran["batch_size"].min()),
              threads=int(ran["threads"].min()), phase=phase)
    lstm, tf = _at(ran, RECURRENT_FAMILY, **at), _at(ran, ATTENTION_FAMILY, **at)
    claim = ("The LSTM processes a sequence one step after another; the Transformer "
             "processes all positions at once.")
    exps = inputs.exponents
    row = None if exps.empty else _exponent_row(exps, RECURRENT_FAMILY, **at)
    if row is None or _missing(row["k_upper"]) or tf["seq_len"].nunique() < 3:
        return Verdict("Sequential vs parallel processing", claim,
                       f"needs ≥ 3 clean sequence lengths per family at batch "
                       f"{at['batch_size']}, {at['threads']} thread(s), {phase} (LSTM "
                       f"{lstm['seq_len'].nunique()}, Transformer {tf['seq_len'].nunique()}; "
                       "preset default)", NOT_MEASURED)
    tf_k, tf_to, tf_half = _low_range_exponent(tf, halves)
    tf_text = (fmt_exp(tf_k, tf_k - tf_half, tf_k + tf_half) if not _missing(tf_half)
               and tf_half > 0 else fmt_exp(tf_k))
    measured = (f"latency ∝ n^k at batch {at['batch_size']}, {phase}: LSTM k = "
                f"{fmt_exp(row['k_upper'], row['k_upper_low'], row['k_upper_high'])} for "
                f"n ≥ {fmt_n(row['upper_n_min'])}; Transformer k = {tf_text} "
                f"for n ≤ {fmt_n(tf_to)}")
    return Verdict("Sequential vs parallel processing", claim, measured,
                   *sequential_rule(row["k_upper"], tf_k, tf_half))


def long_range_row(train_claims: list[dict] | None) -> Verdict:
    claim = ("Attention reaches any earlier position in one step; an LSTM's signal and "
             "gradient fade with distance.")
    row = next((r for r in train_claims or [] if "long-range" in r["claim"]), None)
    if row is None:
        return Verdict("Long-range dependency", claim,
                       "a training question, not a timing one: run `python -m profiler train "
                       "--out RUN_DIR/train`, then `python -m profiler report RUN_DIR`",
                       NOT_MEASURED)
    return Verdict("Long-range dependency", claim, row["measured"],
                   *train_claim_rule(row["verdict"]))


def _gains(ran: pd.DataFrame, axis: str, lo: int, hi: int, at: dict,
           halves: dict[str, float]) -> dict[str, tuple]:
    """family -> (tokens/s at axis=hi over tokens/s at axis=lo, n, the square of the
    gain's log half-width) at the largest n both ran; for threads at one batch this is
    the latency speedup."""
    out = {}
    for fam in (ATTENTION_FAMILY, RECURRENT_FAMILY):
        a, b = _at(ran, fam, **{axis: lo}, **at), _at(ran, fam, **{axis: hi}, **at)
        n = _largest_shared_n(a, b)
        out[fam] = (math.nan, n, 0.0) if n is None else (
            _value(b, n, "tokens_per_s") / _value(a, n, "tokens_per_s"), n,
            _half_at(a, n, halves) ** 2 + _half_at(b, n, halves) ** 2)
    return out


def parallelism_row(records: pd.DataFrame, ref: dict, phase: str,
                    halves: dict[str, float]) -> Verdict:
    ran = ok(records)
    claim = "The Transformer gains more from parallel hardware (threads, batch) than the LSTM."
    base = dict(device=ref["device"], dtype=ref["dtype"], phase=phase)
    parts, pairs = [], {}
    for axis, kind, label, fixed in (("threads", "threads", "threads", "batch_size"),
                                     ("batch_size", "batch", "tokens/s, batch", "threads")):
        values = sorted(ran[ran["device"] == ref["device"]][axis].unique())
        if len(values) < 2:
            continue
        lo, hi = int(values[0]), int(values[-1])
        gain = _gains(ran, axis, lo, hi, dict(base, **{fixed: ref[fixed]}), halves)
        (a, n, a_sq), (r, _, r_sq) = gain[ATTENTION_FAMILY], gain[RECURRENT_FAMILY]
        half = math.sqrt(a_sq + r_sq)
        pairs[kind] = (a, r, half)
        ratio = (f"; Transformer/LSTM {_ratio_text(a / r, half)}"
                 if half > 0 and not _missing(a, r) and r > 0 else "")
        parts.append(f"{label} {lo}→{hi}: Transformer {fmt_x(a)}, LSTM {fmt_x(r)} "
                     f"(n = {fmt_n(n)}{ratio})")
    if not parts:
        return Verdict("Parallelism (batch and threads)", claim,
                       "needs ≥ 2 thread counts or batch sizes (preset default)", NOT_MEASURED)
    return Verdict("Parallelism (batch and threads)", claim,
                   f"{phase}; " + "; ".join(parts), *gains_rule(pairs))


def time_scaling_row(inputs: ReportInputs, ref: dict, phase: str) -> Verdict:
    at = dict(device=ref["device"], dtype=ref["dtype"], batch_size=ref["batch_size"],
              threads=ref["threads"], phase=phase)
    topic = "Scalability in n: time"
    claim = "Attention costs n² in time; the LSTM's cost grows linearly in n."
    decs, exps = inputs.decompositions, inputs.exponents
    a = None if decs.empty else _exponent_row(decs, ATTENTION_FAMILY, **at)
    r = None if exps.empty else _exponent_row(exps, RECURRENT_FAMILY, **at)
    if a is None or r is None or _missing(r["k_upper"]):
        return Verdict(topic, claim, _too_few(inputs.records, at), NOT_MEASURED)
    measured = (f"{phase}: the fitted n² term (latency ≈ a + b·n + c·n²) is "
                f"{fmt_pct(a['quadratic_share_at_max'])} of the Transformer's latency at n = "
                f"{fmt_n(a['n_max'])}; the LSTM's latency ∝ n^"
                f"{fmt_exp(r['k_upper'], r['k_upper_low'], r['k_upper_high'])} for n ≥ "
                f"{fmt_n(r['upper_n_min'])}")
    return Verdict(topic, claim, measured, *n2_share_rule(
        a["quadratic_share_at_max"], (r["k_upper"], r["k_upper_low"])))


def memory_scaling_row(inputs: ReportInputs, ref: dict, phase: str) -> Verdict:
    at = dict(device=ref["device"], dtype=ref["dtype"], batch_size=ref["batch_size"],
              threads=ref["threads"], phase=phase)
    topic = "Scalability in n: memory"
    claim = "Attention needs n² memory; the LSTM's memory grows linearly in n."
    exps = inputs.memory_exponents
    a = None if exps.empty else _exponent_row(exps, ATTENTION_FAMILY, **at)
    r = None if exps.empty else _exponent_row(exps, RECURRENT_FAMILY, **at)
    if a is None or r is None or _missing(a["k_upper"], r["k_upper"]):
        return Verdict(topic, claim, _too_few(inputs.records, at, "peak_memory_bytes"),
                       NOT_MEASURED)
    kernel = _kernel(inputs.records, at, int(a["n_max"]))
    measured = (f"peak memory ∝ n^k for n ≥ {fmt_n(a['upper_n_min'])}, {phase}: Transformer "
                f"k = {fmt_exp(a['k_upper'], a['k_upper_low'], a['k_upper_high'])}, LSTM k = "
                f"{fmt_exp(r['k_upper'], r['k_upper_low'], r['k_upper_high'])}"
                + (f"; attention kernel: {kernel}" if kernel else ""))
    return Verdict(topic, claim, measured, *quadratic_rule(
        (a["k_upper"], a["k_upper_low"]), (r["k_upper"], r["k_upper_high"])))


def _too_few(records: pd.DataFrame, at: dict, metric: str = "latency_s") -> str:
    """Why a fit is missing: how many clean sequence lengths each family has here."""
    ran = ok(records, metric)
    counts = ", ".join(f"{name} {_at(ran, fam, **at)['seq_len'].nunique()}" for name, fam in
                       (("LSTM", RECURRENT_FAMILY), ("Transformer", ATTENTION_FAMILY)))
    return (f"needs ≥ 3 clean sequence lengths per family at batch {at['batch_size']}, "
            f"{at['threads']} thread(s), {at['phase']} ({counts}; contended points do not "
            "count; preset default)")


def _kernel(records: pd.DataFrame, at: dict, n: int) -> str | None:
    """The kernel the Transformer ran at its largest n (flash vs math changes memory)."""
    rows = _at(ok(records), ATTENTION_FAMILY, seq_len=n, **at)["kernel"].dropna()
    return str(rows.iloc[0]) if len(rows) else None


def efficiency_row(records: pd.DataFrame, ref: dict, phase: str,
                   halves: dict[str, float]) -> Verdict:
    claim = ("The Transformer uses the hardware better: large matrix products instead of "
             "many small sequential ones.")
    ran = ok(records, "flops_per_s") if "flops_per_s" in records else records.iloc[:0]
    at = dict(device=ref["device"], dtype=ref["dtype"], batch_size=ref["batch_size"],
              threads=ref["threads"], phase=phase)
    a, r = _at(ran, ATTENTION_FAMILY, **at), _at(ran, RECURRENT_FAMILY, **at)
    n = _largest_shared_n(a, r) if len(a) and len(r) else None
    if n is None:
        return Verdict("Computational efficiency", claim,
                       "no FLOP count for both families (any preset counts FLOPs)", NOT_MEASURED)
    a_rate, r_rate = _value(a, n, "flops_per_s"), _value(r, n, "flops_per_s")
    half = math.hypot(_half_at(a, n, halves), _half_at(r, n, halves))
    measured = (f"achieved FLOP/s at n = {fmt_n(n)}, {phase}: Transformer "
                f"{a_rate / 1e9:.3g} GFLOP/s, LSTM {r_rate / 1e9:.3g} GFLOP/s "
                f"({_ratio_text(a_rate / r_rate, half)})")
    return Verdict("Computational efficiency", claim, measured,
                   *faster_rule(a_rate, r_rate, half))


def streaming_row(inputs: ReportInputs, ref: dict) -> Verdict:
    claim = ("Generating a token costs an LSTM the same at any context (a fixed-size state); "
             "a Transformer's KV cache and per-token time grow with the context.")
    dec = inputs.decode
    fams = {}
    for fam in (RECURRENT_FAMILY, ATTENTION_FAMILY):
        rows = _at(dec, fam, device=ref["device"]) if not dec.empty else dec
        fams[fam] = rows.sort_values(["batch_size", "threads"]).iloc[0] if len(rows) else None
    r, a = fams[RECURRENT_FAMILY], fams[ATTENTION_FAMILY]
    if r is None or a is None:
        return Verdict("Streaming / per-token cost", claim,
                       "the decode phase did not run: preset streaming "
                       "(`python -m profiler sweep streaming`)", NOT_MEASURED)
    measured = (f"one token at context n = {fmt_n(a['n_min'])}–{fmt_n(a['n_max'])}: "
                f"per-token latency ∝ n^{fmt_exp(a['latency_k'])} (Transformer), "
                f"n^{fmt_exp(r['latency_k'])} (LSTM); state ∝ n^{fmt_exp(a['state_k'])} "
                f"(Transformer), n^{fmt_exp(r['state_k'])} (LSTM)")
    return Verdict("Streaming / per-token cost", claim, measured, *streaming_rule(
        (r["latency_k"], r["state_k"]), (a["latency_k"], a["state_k"])))


def gather(inputs: ReportInputs, train_claims: list[dict] | None = None) -> list[Verdict]:
    """The verdict table of a run, in the textbook's order; [] without both families."""
    records = inputs.records
    ref = reference(records)
    if ref is None:
        return []
    phase = _phase(records, ref)
    halves = log_halves(inputs.intervals)
    rows = []
    if phase is not None:
        rows.append(sequential_row(inputs, ref, phase, halves))
    rows.append(long_range_row(train_claims))
    if phase is not None:
        rows += [parallelism_row(records, ref, phase, halves),
                 time_scaling_row(inputs, ref, phase), memory_scaling_row(inputs, ref, phase),
                 efficiency_row(records, ref, phase, halves)]
    rows.append(streaming_row(inputs, ref))
    return rows
