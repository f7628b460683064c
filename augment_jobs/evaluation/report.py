"""The version report: one self-contained HTML page a person reads in a minute (docs/store.md,
`versions/<version>/_report.html`).

It leads with the verdict (published, or QUARANTINED and which checks failed), then the gate
checks with their reasons, rows per class before and after, efficacy and privacy figures, and per
modality what changed: real-vs-synthetic distributions per class and column and a
correlation-difference heatmap (tabular), a sample grid with boxes (image), before/after pairs with
the edits marked (text), source series overlaid with their copies (time series), spectrograms and playable clips
(audio).

No network: CSS is inline and every figure is a base64 PNG drawn with matplotlib (Agg, no pyplot
state). Given the same input the page is byte-identical (no timestamps in the PNGs, seeded samples).
"""

from __future__ import annotations

import base64
import difflib
import html
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# Colours: real rows in slate blue, synthetic in orange (distinguishable in colour-blind palettes).
REAL = "#3b6ea5"
SYNTH = "#e8871e"
PASS = "#1a7f37"
FAIL = "#c62828"


@dataclass
class ImageSample:
    """One image of the sample grid; boxes are [x1, y1, x2, y2] in pixels of `image`."""

    image: Any  # PNG/JPEG bytes or a PIL image
    boxes: Sequence[Sequence[float]] = ()
    box_labels: Sequence[str] = ()
    caption: str = ""
    synthetic: bool = True


@dataclass
class TextPair:
    """A source text and one augmented copy of it."""

    before: str
    after: str
    label: str | None = None
    method: str | None = None


@dataclass
class SeriesOverlay:
    """A source series and its synthetic copies (same length or not)."""

    source: Sequence[float]
    copies: Sequence[Sequence[float]]
    title: str = ""


@dataclass
class AudioSample:
    """One playable clip of the report (WAV bytes: every browser plays them)."""

    wav: bytes
    caption: str = ""
    synthetic: bool = True


@dataclass
class ReportInput:
    """What the report shows; every modality part is optional.

    checks: the gate's (name, passed, one-line detail), in gate order.
    counts_before / counts_after: rows per class before augmenting (real train rows) and after
    (real + synthetic). real / synthetic: the tabular rows to compare (features + label; platform
    columns starting with "_" are ignored). efficacy / privacy: the dicts from
    evaluation.efficacy.efficacy and evaluation.privacy.privacy.
    """

    dataset: str
    version: str
    passed: bool
    checks: Sequence[tuple[str, bool, str]] = ()
    modality: str = "tabular"
    label: str | None = None
    counts_before: dict[str, int] = field(default_factory=dict)
    counts_after: dict[str, int] = field(default_factory=dict)
    real: pd.DataFrame | None = None
    synthetic: pd.DataFrame | None = None
    efficacy: dict[str, Any] | None = None
    privacy: dict[str, Any] | None = None
    images: Sequence[ImageSample] = ()
    text_pairs: Sequence[TextPair] = ()
    series: Sequence[SeriesOverlay] = ()
    audio: Sequence[AudioSample] = ()
    spectrograms: Any = None  # a matplotlib Figure: spectrograms of real clips beside their copies
    skipped: dict[str, int] = field(default_factory=dict)
    notes: Sequence[str] = ()
    #: governance: the policy fingerprint, its approval ({by, at, note, entry}) or None, limitations
    policy: str = ""
    approval: dict[str, Any] | None = None
    approval_required: bool = False
    limitations: Sequence[str] = ()
    #: the bias audit per group column (evaluation.fairness.fairness)
    fairness: dict[str, Any] | None = None
    #: the gate report's SDMetrics `quality` ({score, worst_class, by_class, candidates}); None if none
    quality: dict[str, Any] | None = None
    max_columns: int = 12
    max_classes: int = 4
    plot_rows: int = 5000


CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:1120px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
.verdict{border-radius:10px;padding:18px 22px;color:#fff;margin-bottom:16px}
.verdict.pass{background:PASS_}.verdict.fail{background:FAIL_}
.verdict .sub{opacity:.95;font-size:15px;margin-top:6px}
.verdict ul{margin:8px 0 0 18px;padding:0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:12px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 14px}
.card .big{font-size:24px;font-weight:600}.muted{color:#59636e;font-size:13px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:14px}
th,td{border-bottom:1px solid #e5e8eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff}
.pill.pass{background:PASS_}.pill.fail{background:FAIL_}
.bar{display:inline-block;height:10px;border-radius:2px;vertical-align:middle}
.bar.real{background:REAL_}.bar.syn{background:SYNTH_}
img.fig{max-width:100%;height:auto;background:#fff;border:1px solid #d0d7de;border-radius:6px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px}
.grid figure{margin:0;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:6px}
.grid img{width:100%;height:auto;display:block}.grid figcaption{font-size:12px;color:#59636e;margin-top:4px}
.pair{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin-bottom:8px}
.pair .t{white-space:pre-wrap;margin:2px 0}.pair .k{font-size:12px;color:#59636e;width:56px;display:inline-block}
del{background:#ffd7d5;color:#82071e;text-decoration:line-through}ins{background:#ccffd8;color:#055d20;text-decoration:none}
.row{display:flex;gap:12px;align-items:flex-start;margin-top:12px;flex-wrap:wrap}.row>img{flex:0 0 auto;width:520px}
.row>table{flex:1 1 300px;width:auto}
.legend span{margin-right:14px}.key{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:4px;vertical-align:-1px}
""".replace("PASS_", PASS).replace("FAIL_", FAIL).replace("REAL_", REAL).replace("SYNTH_", SYNTH)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _png(fig: Any) -> str:
    """A matplotlib Figure as an <img> with a base64 PNG; no metadata so output is stable."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None}, bbox_inches="tight")
    return _img_tag(buf.getvalue(), "figure", "fig")


def _img_tag(png: bytes, alt: str, cls: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{cls}" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# ---- verdict, checks, counts ---------------------------------------------------------------


def _verdict(ctx: ReportInput) -> str:
    failed = [c for c in ctx.checks if not c[1]]
    if ctx.passed:
        head = f"Published: {_e(ctx.dataset)} version {_e(ctx.version)}"
        sub = f"All {len(ctx.checks)} gate checks passed." if ctx.checks else "No gate checks recorded."
        body = ""
    else:
        head = f"QUARANTINED: {_e(ctx.dataset)} version {_e(ctx.version)}"
        sub = f"{len(failed)} of {len(ctx.checks)} gate checks failed; the version is not published."
        body = "<ul>" + "".join(f"<li><b>{_e(n)}</b>: {_e(d)}</li>" for n, _, d in failed) + "</ul>"
    facts = []
    before, after = sum(ctx.counts_before.values()), sum(ctx.counts_after.values())
    if ctx.counts_after:
        facts.append(f"{before:,} real rows → {after:,} rows ({after - before:+,} synthetic)")
    eff = ctx.efficacy or {}
    if eff.get("uplift") is not None:
        facts.append(f"efficacy {eff['metric']} {eff['baseline']:.3f} → {eff['augmented']:.3f} ({eff['uplift']:+.3f})")
    priv = ctx.privacy or {}
    if priv:
        share = priv.get("close_share")
        facts.append(f"{priv.get('exact_copies', 0)} exact copies, close share "
                     + ("–" if share is None else f"{share:.1%}"))
    fact_line = f'<div class="sub">{_e(" · ".join(facts))}</div>' if facts else ""
    cls = "pass" if ctx.passed else "fail"
    return f'<section class="verdict {cls}"><h1>{head}</h1><div class="sub">{_e(sub)}</div>{body}{fact_line}</section>'


def _checks(ctx: ReportInput) -> str:
    if not ctx.checks:
        return ""
    # Failed checks first: they are what the reader came for.
    rows = sorted(ctx.checks, key=lambda c: c[1])
    body = "".join(
        f'<tr><td><span class="pill {"pass" if ok else "fail"}">{"pass" if ok else "FAIL"}</span></td>'
        f"<td><b>{_e(name)}</b></td><td>{_e(detail)}</td></tr>"
        for name, ok, detail in rows
    )
    return f"<h2>Gate checks</h2><table><tr><th>result</th><th>check</th><th>reason</th></tr>{body}</table>"


def _counts(ctx: ReportInput) -> str:
    if not ctx.counts_after and not ctx.counts_before:
        return ""
    classes = sorted(set(ctx.counts_before) | set(ctx.counts_after), key=lambda c: (-ctx.counts_after.get(c, 0), str(c)))
    top = max([*ctx.counts_after.values(), *ctx.counts_before.values(), 1])
    rows = []
    for c in classes:
        b, a = ctx.counts_before.get(c, 0), ctx.counts_after.get(c, 0)
        wb, ws = 220 * b / top, 220 * max(a - b, 0) / top
        rows.append(
            f"<tr><td>{_e(c)}</td><td class=num>{b:,}</td><td class=num>{a - b:+,}</td><td class=num>{a:,}</td>"
            f'<td><span class="bar real" style="width:{wb:.1f}px"></span>'
            f'<span class="bar syn" style="width:{ws:.1f}px"></span></td></tr>'
        )
    legend = (f'<p class="legend muted"><span><i class="key" style="background:{REAL}"></i>real</span>'
              f'<span><i class="key" style="background:{SYNTH}"></i>synthetic</span></p>')
    label = f" ({_e(ctx.label)})" if ctx.label else ""
    return (f"<h2>Rows per class{label}</h2><table><tr><th>class</th><th class=num>before</th>"
            f"<th class=num>added</th><th class=num>after</th><th></th></tr>{''.join(rows)}</table>{legend}")


def _candidates(quality: dict[str, Any] | None) -> str:
    """`method: auto`: per class, every candidate's SDMetrics quality on held-out rows and fit seconds."""
    by_class = (quality or {}).get("candidates") or {}
    if not by_class:
        return ""
    rows = []
    for cls, c in by_class.items():
        for r in c["candidates"]:
            chosen = r["method"] == c["chosen"]
            score = _fmt(r["score"]) if r.get("score") is not None else _e(r.get("error", ""))
            how = f"{r['epochs']} epochs" + (f", stopped {r['stopped']}" if r.get("stopped") else "") \
                if "epochs" in r else ""
            rows.append(f"<tr><td>{_e(cls)}</td><td>{'<b>' if chosen else ''}{_e(r['method'])}"
                        f"{' (chosen)</b>' if chosen else ''}</td><td class=num>{score}</td>"
                        f"<td class=num>{_fmt(r['fit_seconds'], 1)}</td><td>{_e(how)}</td></tr>")
    return ("<h2>Synthesizer candidates (method: auto)</h2><p class=muted>SDMetrics quality of each candidate's draw "
            "on real rows of the class held out of its fit; the class's rows come from the chosen one.</p>"
            "<table><tr><th>class</th><th>candidate</th><th class=num>quality</th><th class=num>fit s</th>"
            f"<th>training</th></tr>{''.join(rows)}</table>")


def _skips_notes(ctx: ReportInput) -> str:
    out = ""
    if ctx.skipped:
        out += "<h2>Skipped items</h2><table><tr><th>reason</th><th class=num>items</th></tr>" + "".join(
            f"<tr><td>{_e(k)}</td><td class=num>{v:,}</td></tr>" for k, v in sorted(ctx.skipped.items())) + "</table>"
    if ctx.notes:
        out += "<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in ctx.notes) + "</ul>"
    return out


# ---- efficacy and privacy ------------------------------------------------------------------


def _efficacy(eff: dict[str, Any] | None) -> str:
    if not eff:
        return ('<div class="card"><h3>Efficacy</h3><p class="muted">Not measured: it needs a split '
                "(<code>split.holdout</code>) and <code>quality.efficacy</code>.</p></div>")
    if eff.get("skipped_reason"):
        return f'<div class="card"><h3>Efficacy</h3><p>{_e(eff["skipped_reason"])}</p></div>'
    up = eff["uplift"]
    colour = PASS if up >= 0 else FAIL
    rows = eff.get("rows", {})
    return (
        f'<div class="card"><h3>Efficacy: {_e(eff["metric"])}</h3>'
        f'<div class="big" style="color:{colour}">{up:+.3f}</div>'
        f'<div>{eff["baseline"]:.3f} real only → {eff["augmented"]:.3f} real + synthetic</div>'
        f'<p class="muted">{_e(eff["model"])}, minority class {_e(eff.get("minority"))}; scored on '
        f'{rows.get("holdout", "?"):,} held-out real rows; trained on {rows.get("train", "?"):,} real'
        f' (+{rows.get("synthetic", 0):,} synthetic) rows.</p></div>'
    )


def _privacy(priv: dict[str, Any] | None, checks: Sequence[tuple[str, bool, str]]) -> str:
    if not priv:
        return '<div class="card"><h3>Privacy</h3><p class="muted">Not measured.</p></div>'
    share = priv.get("close_share")
    s = priv.get("sampled", {})
    verdicts = {name: ok for name, ok, _ in checks}

    def colour(check: str) -> str:
        # Red or green only where the gate judged the figure (quality.privacy limits set).
        return {True: PASS, False: FAIL}.get(verdicts.get(check), "#1f2328")

    copies = priv.get("exact_copies", 0)
    return (
        f'<div class="card"><h3>Privacy</h3>'
        f'<div><span class="big" style="color:{colour("privacy_exact_copies")}">{copies:,}</span> exact '
        f'cop{"y" if copies == 1 else "ies"} of train rows</div>'
        f'<div><span class="big" style="color:{colour("privacy_close_share")}">'
        f'{"–" if share is None else f"{share:.1%}"}</span> of synthetic rows closer to a train row than 95% '
        f"of {_e(priv.get('baseline', 'baseline'))} rows (distance {_fmt(priv.get('close_threshold'))})</div>"
        f'<p class="muted">DCR of {s.get("synthetic", 0):,} of {s.get("synthetic_total", 0):,} synthetic rows'
        f' and {s.get("baseline", 0):,} baseline rows against {s.get("train", 0):,} train rows; index: '
        f'{_e(priv.get("index", "?"))}.</p></div>'
    )


def _dcr_plot(priv: dict[str, Any] | None) -> str:
    q = (priv or {}).get("dcr_quantiles") or {}
    if not q.get("synthetic") or not q.get("baseline"):
        return ""
    fig = _figure(6.4, 2.6)
    ax = fig.add_subplot()
    p = np.asarray(q["percentiles"]) / 100
    ax.plot(q["baseline"], p, color=REAL, lw=2, label=f"{priv.get('baseline', 'baseline')} (real, unseen)")
    ax.plot(q["synthetic"], p, color=SYNTH, lw=2, label="synthetic")
    if priv.get("close_threshold") is not None:
        ax.axvline(priv["close_threshold"], color="#555", ls="--", lw=1, label="5th percentile of real")
    ax.set_xlabel("distance to closest train row (DCR)")
    ax.set_ylabel("share of rows ≤ x")
    ax.set_title("Distance to closest record: synthetic vs unseen real rows", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return _png(fig)


def _per_class_privacy(priv: dict[str, Any] | None) -> str:
    per = (priv or {}).get("per_class") or {}
    rows = [(c, i) for c, i in per.items() if i.get("synthetic")]
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{_e(c)}</td><td class=num>{i['synthetic']:,}</td><td class=num>{i.get('exact_copies', 0):,}</td>"
        f"<td class=num>{_fmt(i.get('close_share'))}</td><td class=num>{_fmt(i.get('dcr_synthetic_median'))}</td>"
        f"<td class=num>{_fmt(i.get('dcr_baseline_median'))}</td></tr>"
        for c, i in rows
    )
    return ("<table><tr><th>class</th><th class=num>synthetic rows</th><th class=num>exact copies</th>"
            "<th class=num>close share</th><th class=num>median DCR, synthetic</th>"
            f"<th class=num>median DCR, unseen real</th></tr>{body}</table>")


# ---- governance, differential privacy, fairness, calibration ------------------------------------


def _governance(ctx: ReportInput) -> str:
    if not ctx.policy and not ctx.limitations and ctx.approval is None:
        return ""
    a = ctx.approval
    if a:
        note = f" Note: {_e(a['note'])}" if a.get("note") else ""
        who = (f'<div class="big" style="color:{PASS}">approved</div><div>by <b>{_e(a["by"])}</b> at {_e(a["at"])} '
               f"(audit entry {_e(a['entry'])}).{note}</div>")
    else:
        colour = FAIL if ctx.approval_required else "#1f2328"
        need = "required (the run is refused without it)" if ctx.approval_required else "not required"
        who = f'<div class="big" style="color:{colour}">not approved</div><div class="muted">Approval {need}.</div>'
    limits = ("<ul>" + "".join(f"<li>{_e(t)}</li>" for t in ctx.limitations) + "</ul>" if ctx.limitations
              else '<p class="muted">None stated (<code>limitations</code> in the config).</p>')
    return (f'<h2>Governance</h2><div class="cards"><div class="card"><h3>Policy {_e(ctx.policy[:12])}</h3>{who}'
            f'<p class="muted">The fingerprint covers the config and the files it names; '
            f"<code>augment audit {_e(ctx.dataset)}</code> shows the trail.</p></div>"
            f'<div class="card"><h3>Limitations</h3>{limits}</div>{_dp_card(ctx.privacy)}</div>')


def _dp_card(priv: dict[str, Any] | None) -> str:
    if not priv or priv.get("epsilon") is None:
        return ""
    records = priv.get("dp") or []
    mech = ", ".join(sorted({str(r.get("mechanism", "?")) for r in records})) or "?"
    return (f'<div class="card"><h3>Differential privacy</h3><div class="big">ε = {priv["epsilon"]:g}</div>'
            f'<div>δ = {priv.get("delta", 0):g} spent by {len(records)} fit(s) ({_e(mech)})</div>'
            '<p class="muted">Fits of one step on disjoint rows compose in parallel, steps add up.</p></div>')


def _fairness(fair: dict[str, Any] | None, checks: Sequence[tuple[str, bool, str]]) -> str:
    if not fair:
        return ""
    verdicts = {name: ok for name, ok, _ in checks}
    out = ["<h2>Bias audit</h2>"]
    for col, f in fair.items():
        ok = verdicts.get(f"fairness.{col}")
        pill = "" if ok is None else f' <span class="pill {"pass" if ok else "fail"}">{"pass" if ok else "FAIL"}</span>'
        head = f"<h3>Group {_e(col)}{pill}</h3>"
        if "change" in f:
            head += (f'<p class="muted">Disparity (largest gap between groups in a class\'s share) '
                     f"{f['disparity_before']:.3f} before → {f['disparity_after']:.3f} after; the gap in class "
                     f"{_e(f['change_class'])} moved {f['change']:+.3f}.</p>")
        classes = list(next(iter(f["groups"].values()), {}).get("labels_after", {}))
        cls_heads = "".join(f"<th class=num>{_e(c)} before → after</th>" for c in classes)
        rows = []
        for value, g in f["groups"].items():
            cells = "".join(f"<td class=num>{g['labels_before'][c]:.1%} → {g['labels_after'][c]:.1%}</td>" for c in classes)
            rows.append(f"<tr><td>{_e(value)}{'' if g['compared'] else ' <span class=muted>(too few rows)</span>'}</td>"
                        f"<td class=num>{g['rows_before']:,}</td><td class=num>{g['rows_after']:,}</td>"
                        f"<td class=num>{g['synthetic_share']:.1%}</td>{cells}</tr>")
        out.append(f"{head}<table><tr><th>group</th><th class=num>rows before</th><th class=num>rows after</th>"
                   f"<th class=num>synthetic share</th>{cls_heads}</tr>{''.join(rows)}</table>")
    return "".join(out)


def _calibration(eff: dict[str, Any] | None) -> str:
    if not eff or not eff.get("calibration"):
        return ""
    cal = eff["calibration"]
    fig = _figure(4.6, 3.6)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#999", ls="--", lw=1, label="perfectly calibrated")
    for name, colour in (("baseline", REAL), ("augmented", SYNTH)):
        pts = cal[name]["reliability"]
        ax.plot([p["mean_predicted"] for p in pts], [p["observed"] for p in pts], marker="o", color=colour, lw=1.8,
                label=f"{'real only' if name == 'baseline' else 'real + synthetic'} (Brier {cal[name]['brier']:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"predicted probability of {eff.get('minority')}")
    ax.set_ylabel("observed share")
    ax.set_title("Reliability diagram on the holdout", fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.grid(alpha=0.3)
    rec = eff.get("per_class_recall") or {}
    rows = "".join(
        f"<tr><td>{_e(c)}{' <b>(tail)</b>' if r['tail'] else ''}</td><td class=num>{r['train_rows']:,}</td>"
        f"<td class=num>{r['baseline']:.3f}</td><td class=num>{r['augmented']:.3f}</td>"
        f"<td class=num>{r['augmented'] - r['baseline']:+.3f}</td></tr>" for c, r in rec.items())
    table = ("<table><tr><th>class</th><th class=num>train rows</th><th class=num>recall, real only</th>"
             f"<th class=num>real + synthetic</th><th class=num>change</th></tr>{rows}</table>")
    brier = (f'<p class="muted">Brier score (all classes): {cal["baseline"]["brier"]:.4f} real only, '
             f'{cal["augmented"]["brier"]:.4f} real + synthetic; minority one vs rest: '
             f'{cal["baseline"]["brier_minority"]:.4f} → {cal["augmented"]["brier_minority"]:.4f}.</p>')
    ablation = ""
    if eff.get("ablation"):
        arows = "".join(f"<tr><td>{a['step']}</td><td>{_e(a['method'])}</td><td class=num>{a['synthetic_rows']:,}</td>"
                        f"<td class=num>{a['without']:.3f}</td><td class=num>{a['contribution']:+.3f}</td></tr>"
                        for a in eff["ablation"])
        ablation = (f"<h3>Ablation: {_e(eff['metric'])} without each step (all steps: {eff['augmented']:.3f})</h3>"
                    "<table><tr><th>step</th><th>method</th><th class=num>its synthetic rows</th>"
                    f"<th class=num>score without it</th><th class=num>its contribution</th></tr>{arows}</table>")
    return (f"<h2>Calibration and per-class recall</h2>{brier}<div class=\"row\">{_png(fig)}{table}</div>{ablation}")


# ---- tabular: distributions and correlations ---------------------------------------------------


def _is_num(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))


def _difference(real: pd.Series, syn: pd.Series) -> float:
    """0..1: Kolmogorov-Smirnov statistic for numbers, total variation distance for categories."""
    from augment_jobs.evaluation.distances import difference

    real, syn = real.dropna(), syn.dropna()
    if not len(real) or not len(syn):
        return 1.0 if len(real) != len(syn) else 0.0
    return difference(real, syn)[1]  # the gate's own statistic (augment_jobs/evaluation/distances.py)


def _sample(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    return frame if len(frame) <= n else frame.sample(n=n, random_state=0)


def _draw_column(ax: Any, name: str, real: pd.Series, syn: pd.Series, diff: float) -> None:
    real, syn = real.dropna(), syn.dropna()
    if _is_num(real) and _is_num(syn) and pd.concat([real, syn]).nunique() > 12:
        both = pd.concat([real, syn]).to_numpy(float)
        lo, hi = np.percentile(both, [0.5, 99.5])
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        bins = np.linspace(lo, hi, 31)
        ax.hist(np.clip(real, lo, hi), bins=bins, density=True, color=REAL, alpha=0.55)
        ax.hist(np.clip(syn, lo, hi), bins=bins, density=True, histtype="step", color=SYNTH, lw=1.8)
        ax.set_yticks([])
    else:
        a = real.astype(str).value_counts(normalize=True)
        b = syn.astype(str).value_counts(normalize=True)
        cats = list(a.index[:8]) + [c for c in b.index[:8] if c not in a.index[:8]][: max(0, 10 - min(8, len(a)))]
        x = np.arange(len(cats))
        ax.bar(x - 0.2, [a.get(c, 0) for c in cats], 0.4, color=REAL, alpha=0.75)
        ax.bar(x + 0.2, [b.get(c, 0) for c in cats], 0.4, color=SYNTH)
        ax.set_xticks(x, [c if len(c) <= 8 else c[:7] + "…" for c in cats], rotation=45, fontsize=7, ha="right")
        ax.tick_params(axis="y", labelsize=7)
    ax.set_title(f"{name if len(name) <= 24 else name[:23] + '…'}  (diff {diff:.2f})", fontsize=8.5)
    ax.tick_params(axis="x", labelsize=7)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _distributions(ctx: ReportInput) -> str:
    real, syn = ctx.real, ctx.synthetic
    if real is None or syn is None or not len(syn):
        return ""
    label = ctx.label if ctx.label in real.columns and ctx.label in syn.columns else None
    cols = [c for c in real.columns if c in syn.columns and c != label and not str(c).startswith("_")]
    if not cols:
        return ""
    if label is None:
        groups = [("all rows", real, syn)]
    else:
        rk, sk = real[label].astype(str), syn[label].astype(str)
        order = sk.value_counts().index.tolist()
        groups = [(c, real[rk == c], syn[sk == c]) for c in order]
    shown, hidden_classes = groups[: ctx.max_classes], groups[ctx.max_classes :]
    shown = [(c, _sample(r, ctx.plot_rows), _sample(s, ctx.plot_rows)) for c, r, s in shown]
    diffs = {col: max(_difference(r[col], s[col]) for _, r, s in shown) for col in cols}
    ranked = sorted(cols, key=lambda c: (-diffs[c], str(c)))
    plotted, left = ranked[: ctx.max_columns], ranked[ctx.max_columns :]
    out = ["<h2>Real vs synthetic, per class and column</h2>",
           f'<p class="legend muted"><span><i class="key" style="background:{REAL}"></i>real</span>'
           f'<span><i class="key" style="background:{SYNTH}"></i>synthetic</span> Columns in order of largest '
           "difference (KS statistic for numbers, total variation for categories, 0 = same, 1 = disjoint).</p>"]
    if left:
        out.append(f'<p class="muted">Not plotted ({len(left)} columns, the most similar; limit '
                   f'{ctx.max_columns}): ' + ", ".join(f"{_e(c)} ({diffs[c]:.2f})" for c in left) + "</p>")
    if hidden_classes:
        out.append('<p class="muted">Classes not plotted (fewer synthetic rows): '
                   + ", ".join(_e(c) for c, _, _ in hidden_classes) + "</p>")
    ncols = min(4, len(plotted))
    nrows = math.ceil(len(plotted) / ncols)
    for cls, r, s in shown:
        fig = _figure(2.7 * ncols, 1.95 * nrows + 0.3)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax, col in zip(axes.flat, plotted, strict=False):
            _draw_column(ax, str(col), r[col], s[col], _difference(r[col], s[col]))
        for ax in list(axes.flat)[len(plotted):]:
            ax.set_visible(False)
        out.append(f"<h3>Class {_e(cls)}: {len(r):,} real, {len(s):,} synthetic rows"
                   f"{' (sampled)' if max(len(r), len(s)) >= ctx.plot_rows else ''}</h3>{_png(fig)}")
    out.append(_correlations(ctx, shown, [c for c in cols if _is_num(real[c])]))
    return "".join(out)


def _correlations(ctx: ReportInput, shown: list[tuple[str, pd.DataFrame, pd.DataFrame]], numeric: list[str]) -> str:
    if len(numeric) < 2:
        return "<h3>Correlations</h3><p class=muted>Fewer than two numeric columns: no correlation matrix.</p>"
    numeric = numeric[:20]
    panels = [(c, r, s) for c, r, s in shown[:3] if len(r) > 2 and len(s) > 2]
    if not panels:
        return ""
    fig = _figure(4.6 * len(panels) + 0.8, 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    image = None
    worst = []
    for ax, (cls, r, s) in zip(axes, panels, strict=True):
        diff = (s[numeric].corr() - r[numeric].corr()).fillna(0).to_numpy()
        image = ax.imshow(diff, cmap="RdBu_r", vmin=-1, vmax=1)
        short = [c if len(c) <= 12 else c[:11] + "…" for c in map(str, numeric)]
        ticks = np.arange(len(numeric))
        fontsize = 7 if len(numeric) <= 12 else 5.5
        ax.set_xticks(ticks, short, rotation=90, fontsize=fontsize)
        ax.set_yticks(ticks, short, fontsize=fontsize)
        ax.set_title(f"class {cls}", fontsize=9)
        worst.append((cls, float(np.abs(diff).max())))
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="synthetic − real correlation")
    hidden = f" (first 20 of {len(numeric)} numeric columns)" if len(numeric) > 20 else ""
    summary = "; ".join(f"class {_e(c)}: largest |difference| {w:.2f}" for c, w in worst)
    return f"<h3>Correlation difference{hidden}</h3><p class=muted>{summary}</p>{_png(fig)}"


# ---- images, text, series -------------------------------------------------------------------


def _images(samples: Sequence[ImageSample]) -> str:
    if not samples:
        return ""
    from PIL import Image, ImageDraw, ImageFont

    figs = []
    for s in samples:
        img = s.image if isinstance(s.image, Image.Image) else Image.open(io.BytesIO(s.image))
        img = img.convert("RGB")
        draw = ImageDraw.Draw(img)
        # Sized to the image so boxes and labels survive the thumbnail.
        width = max(2, round(max(img.size) / 150))
        font = ImageFont.load_default(size=max(12, round(max(img.size) / 28)))
        for i, box in enumerate(s.boxes):
            draw.rectangle([float(v) for v in box], outline=(255, 40, 40), width=width)
            if i < len(s.box_labels):
                x, y = float(box[0]), float(box[1])
                text = str(s.box_labels[i])
                left, top, right, bottom = draw.textbbox((x, y), text, font=font)
                y = y - (bottom - top) - 6 if y - (bottom - top) - 6 >= 0 else y  # above the box when it fits
                left, top, right, bottom = draw.textbbox((x + 3, y + 2), text, font=font)
                draw.rectangle([x, y, right + 3, bottom + 3], fill=(255, 40, 40))
                draw.text((x + 3, y + 2), text, fill=(255, 255, 255), font=font)
        img.thumbnail((320, 320))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        kind = "synthetic" if s.synthetic else "real"
        cap = f"{kind}{' · ' + s.caption if s.caption else ''} · {len(s.boxes)} box(es)"
        figs.append(f"<figure>{_img_tag(buf.getvalue(), cap)}<figcaption>{_e(cap)}</figcaption></figure>")
    return f'<h2>Image samples ({len(samples)}), boxes drawn</h2><div class="grid">{"".join(figs)}</div>'


_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


def diff_html(before: str, after: str) -> tuple[str, str]:
    """Both texts as HTML with the token edits marked: <del> in before, <ins> in after."""
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        old, new = _e("".join(a[i1:i2])), _e("".join(b[j1:j2]))
        if op == "equal":
            left.append(old)
            right.append(new)
        else:
            if i2 > i1:
                left.append(f"<del>{old}</del>")
            if j2 > j1:
                right.append(f"<ins>{new}</ins>")
    return "".join(left), "".join(right)


def _texts(pairs: Sequence[TextPair]) -> str:
    if not pairs:
        return ""
    out = [f"<h2>Text: {len(pairs)} source/augmented pairs, edits marked</h2>"]
    for p in pairs:
        left, right = diff_html(p.before, p.after)
        meta = " · ".join(_e(x) for x in (p.label and f"class {p.label}", p.method) if x)
        out.append(f'<div class="pair"><div class="muted">{meta}</div>'
                   f'<div class="t"><span class="k">before</span>{left}</div>'
                   f'<div class="t"><span class="k">after</span>{right}</div></div>')
    return "".join(out)


def _series(overlays: Sequence[SeriesOverlay]) -> str:
    if not overlays:
        return ""
    shown = overlays[:6]
    ncols = min(2, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    fig = _figure(5.4 * ncols, 2.5 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, s in zip(axes.flat, shown, strict=False):
        for i, copy in enumerate(s.copies):
            ax.plot(np.asarray(copy, float), color=SYNTH, lw=1, alpha=0.55, label="copies" if i == 0 else None)
        ax.plot(np.asarray(s.source, float), color=REAL, lw=2, label="source")
        ax.set_title(f"{s.title or 'series'}: {len(s.copies)} copies", fontsize=9)
        ax.legend(fontsize=7, frameon=False, loc="upper right")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    more = f'<p class="muted">{len(overlays) - len(shown)} more series not shown.</p>' if len(overlays) > 6 else ""
    return f"<h2>Time series: source overlaid with its copies</h2>{_png(fig)}{more}"


def _audio(ctx: ReportInput) -> str:
    if not ctx.audio and ctx.spectrograms is None:
        return ""
    out = ["<h2>Audio: real vs augmented</h2>"]
    if ctx.spectrograms is not None:
        out.append(_png(ctx.spectrograms))
    figs = []
    for a in ctx.audio:
        data = base64.b64encode(a.wav).decode("ascii")
        figs.append(f'<figure><audio controls preload="none" src="data:audio/wav;base64,{data}"></audio>'
                    f"<figcaption>{_e(a.caption)}</figcaption></figure>")
    if figs:
        out.append(f'<div class="grid">{"".join(figs)}</div>')
    return "".join(out)


def render_report(ctx: ReportInput) -> str:
    """The report page as one HTML string (UTF-8, no external resources)."""
    parts = [
        _verdict(ctx),
        _checks(ctx),
        _counts(ctx),
        _candidates(ctx.quality),
        _governance(ctx),
        "<h2>Efficacy and privacy</h2>",
        f'<div class="cards">{_efficacy(ctx.efficacy)}{_privacy(ctx.privacy, ctx.checks)}</div>',
        f'<div class="row">{_dcr_plot(ctx.privacy)}{_per_class_privacy(ctx.privacy)}</div>',
        _calibration(ctx.efficacy),
        _fairness(ctx.fairness, ctx.checks),
        _distributions(ctx),
        _images(ctx.images),
        _texts(ctx.text_pairs),
        _series(ctx.series),
        _audio(ctx),
        _skips_notes(ctx),
    ]
    state = "published" if ctx.passed else "QUARANTINED"
    title = f"{ctx.dataset} {ctx.version}: {state}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>"
        f'<body><main><p class="muted">augmentation report · {_e(ctx.modality)} · dataset {_e(ctx.dataset)}</p>'
        + "".join(parts)
        + "</main></body></html>\n"
    )
