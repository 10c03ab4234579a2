"""CLI layer: `interlock report MODEL --html FILE` — one self-contained HTML page (inline SVG, a
few lines of JS, no network fetch) drawn from the model's decision trail in the ledger: each
guarded metric's windows against its threshold, the traffic split over time, and the marks
(promoted, advanced, rolled back, awaiting approval, paused, …) with their reasons on hover."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from interlock.core.events import Outcome
from interlock.core.policy import ModelPolicy

# What the guard writes for each window: `error_rate = 0.01 (<= 0.05)` or
# `error_rate = 0.5, required <= 0.05` (core.guard.assess).
_VALUE_RE = re.compile(r"([A-Za-z][\w.\-]*) = (-?[0-9.]+(?:e[-+]?[0-9]+)?)")
_SPLIT_RE = re.compile(r"([a-z][a-z0-9-]*)=([0-9]{1,3})%")
MARKS = {
    "promoted": "#2e7d32", "advanced": "#1565c0", "rolled_back": "#c62828",
    "awaiting_approval": "#ef6c00", "paused": "#6a1b9a", "resumed": "#6a1b9a",
    "needs_human": "#ad1457", "rejected": "#757575",
}  # fmt: skip
W, LEFT, RIGHT, H = 900, 60, 20, 160
PALETTE = ("#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037")


def _x(t: datetime, t0: float, t1: float) -> float:
    span = max(t1 - t0, 1.0)
    return LEFT + (t.timestamp() - t0) / span * (W - LEFT - RIGHT)


def _points(outcomes: list[Outcome], metric: str) -> list[tuple[datetime, float]]:
    out = []
    for o in outcomes:
        if o.event_type.endswith("model.observed.v1"):
            for reason in o.reasons:
                for name, value in _VALUE_RE.findall(reason):
                    if name == metric:
                        out.append((o.decided_at, float(value)))
    return out


def _splits(outcomes: list[Outcome]) -> list[tuple[datetime, dict[str, int]]]:
    out = []
    for o in outcomes:
        for effect in o.effects:
            if effect.startswith("traffic "):
                out.append((o.decided_at, {r: int(p) for r, p in _SPLIT_RE.findall(effect)}))
    return out


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _metric_chart(
    mp: ModelPolicy, outcomes: list[Outcome], metric: str, t0: float, t1: float
) -> str:
    pts = _points(outcomes, metric)
    rules = [r for r in mp.guard.rules if r.metric == metric]
    values = [v for _, v in pts] + [r.value for r in rules]
    lo, hi = min(values, default=0.0), max(values, default=1.0)
    if hi - lo < 1e-12:
        hi = lo + 1.0
    pad = (hi - lo) * 0.1
    lo, hi = lo - pad, hi + pad

    def y(v: float) -> float:
        return 10 + (hi - v) / (hi - lo) * (H - 30)

    parts = [f'<svg class="chart metric" data-metric="{_esc(metric)}" width="{W}" height="{H}" viewBox="0 0 {W} {H}">',
             f'<text x="4" y="14" class="label">{_esc(metric)}</text>']  # fmt: skip
    for r in rules:
        parts.append(
            f'<line class="threshold" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(r.value):.1f}" y2="{y(r.value):.1f}" '
            f'stroke="#c62828" stroke-dasharray="6 4"><title>threshold {_esc(r.describe())}</title></line>'
        )
    if pts:
        path = " ".join(f"{_x(t, t0, t1):.1f},{y(v):.1f}" for t, v in pts)
        parts.append(f'<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="{path}"/>')
    for t, v in pts:
        bad = any(not r.passes(v) for r in rules)
        parts.append(
            f'<circle class="window{" breach" if bad else ""}" cx="{_x(t, t0, t1):.1f}" cy="{y(v):.1f}" r="4" '
            f'fill="{"#c62828" if bad else "#1565c0"}" data-tip="{_esc(f"{metric} = {v:g} at {t:%H:%M:%S}")}"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _traffic_chart(outcomes: list[Outcome], t0: float, t1: float) -> str:
    splits = _splits(outcomes)
    revisions = list(dict.fromkeys(r for _, s in splits for r in s))
    colour = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(revisions)}
    parts = [f'<svg class="chart traffic" width="{W}" height="{H}" viewBox="0 0 {W} {H}">',
             '<text x="4" y="14" class="label">traffic %</text>']  # fmt: skip
    for i, (t, split) in enumerate(splits):
        x0 = _x(t, t0, t1)
        x1 = _x(splits[i + 1][0], t0, t1) if i + 1 < len(splits) else W - RIGHT
        base = 0.0
        for rev, pct in split.items():
            if pct == 0:
                continue
            top = 10 + (100 - base - pct) / 100 * (H - 30)
            tip = f"{rev} {pct} % from {t:%H:%M:%S}"
            parts.append(
                f'<rect class="split" x="{x0:.1f}" y="{top:.1f}" width="{max(x1 - x0, 1):.1f}" '
                f'height="{pct / 100 * (H - 30):.1f}" fill="{colour[rev]}" data-tip="{_esc(tip)}"/>'
            )
            base += pct
    legend = " ".join(f'<tspan fill="{colour[r]}">■ {_esc(r)}</tspan>' for r in revisions)
    parts.append(f'<text x="{LEFT}" y="{H - 4}" class="legend">{legend}</text></svg>')
    return "\n".join(parts)


def _marks(outcomes: list[Outcome], t0: float, t1: float) -> str:
    parts = [f'<svg class="chart marks" width="{W}" height="60" viewBox="0 0 {W} 60">',
             '<text x="4" y="14" class="label">decisions</text>']  # fmt: skip
    for o in outcomes:
        if o.kind not in MARKS:
            continue
        who = f" by {o.requested_by}" if o.requested_by else ""
        tip = f"{o.kind}{who} at {o.decided_at:%Y-%m-%d %H:%M:%S}Z: " + " | ".join(o.reasons)
        x = _x(o.decided_at, t0, t1)
        parts.append(
            f'<g class="mark" data-kind="{o.kind}" data-tip="{_esc(tip)}">'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="20" y2="56" stroke="{MARKS[o.kind]}" stroke-width="2"/>'
            f'<circle cx="{x:.1f}" cy="24" r="6" fill="{MARKS[o.kind]}"/></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


_SCRIPT = """
const tip = document.getElementById('tip');
document.querySelectorAll('[data-tip]').forEach(el => {
  el.addEventListener('mousemove', e => {
    tip.textContent = el.getAttribute('data-tip'); tip.style.display = 'block';
    tip.style.left = (e.pageX + 12) + 'px'; tip.style.top = (e.pageY + 12) + 'px';
  });
  el.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
});
document.getElementById('count').textContent =
  document.querySelectorAll('.mark').length + ' marks, ' +
  document.querySelectorAll('circle.window').length + ' windows';
"""


def render(mp: ModelPolicy, outcomes: list[Outcome], generated: datetime) -> str:
    """The page for `mp` from its outcomes (any order): oldest left, newest right."""
    trail = sorted(outcomes, key=lambda o: o.decided_at)
    times = [o.decided_at.timestamp() for o in trail] or [generated.timestamp()]
    t0, t1 = min(times), max(times)
    metrics = list(dict.fromkeys(r.metric for r in mp.guard.rules))
    body = [_marks(trail, t0, t1), _traffic_chart(trail, t0, t1)]
    body += [_metric_chart(mp, trail, m, t0, t1) for m in metrics]
    rows = "".join(
        f"<tr><td>{o.decided_at:%Y-%m-%d %H:%M:%S}</td><td>{_esc(o.kind)}</td>"
        f"<td>{_esc('; '.join(o.reasons))}</td></tr>"
        for o in trail if o.kind in MARKS
    )  # fmt: skip
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>interlock report: {_esc(mp.name)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }}
.chart {{ display: block; margin: 8px 0; background: #fafafa; border: 1px solid #ddd; }}
.label {{ font-size: 12px; fill: #555; }} .legend {{ font-size: 12px; }}
#tip {{ position: absolute; display: none; max-width: 480px; background: #222; color: #fff;
        padding: 6px 8px; border-radius: 4px; font-size: 12px; pointer-events: none; }}
table {{ border-collapse: collapse; margin-top: 12px; }} td {{ border-top: 1px solid #eee; padding: 4px 8px; vertical-align: top; }}
</style></head>
<body>
<h1>{_esc(mp.name)}: decisions, traffic and live metrics</h1>
<p>generated {generated:%Y-%m-%d %H:%M:%S}Z from {len(trail)} decision(s); <span id="count"></span>; hover a mark for its reasons.</p>
{"".join(body)}
<table><tbody>{rows}</tbody></table>
<div id="tip"></div>
<script>{_SCRIPT}</script>
</body></html>
"""


def report_command(args: Any) -> int:
    import os
    from datetime import UTC

    from interlock.cli.common import fail, load_policy_or_fail, open_ledger
    from interlock.cli.target import resolve

    target = resolve(args.project, args.ledger)
    policy = load_policy_or_fail(
        args.policy or os.environ.get("INTERLOCK_POLICY") or (target.local or {}).get("policy")
    )
    if args.model not in {m.name for m in policy.models}:
        fail(f"unknown model {args.model!r}")
    ledger = open_ledger(target.ledger or "firestore", target.project)
    page = render(
        policy.model(args.model), ledger.outcomes(args.model, limit=args.limit), datetime.now(UTC)
    )
    try:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as err:
        fail(f"cannot write {args.html}: {err.strerror or err}")
    print(f"report for {args.model} written to {os.path.abspath(args.html)}")
    return 0
