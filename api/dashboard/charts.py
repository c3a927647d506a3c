"""Charts as inline SVG, rendered on the server: no script, no CDN, readable offline."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from api.reports.schemas import (
    ChurnMonthView,
    ForecastHistoryMonthView,
    ForecastMonthView,
    MrrPointView,
    TrialFunnelView,
)
from domain.emails import format_money

_MOVEMENT_COLORS = {
    "new": "#2e7d32",
    "expansion": "#66bb6a",
    "reactivated": "#26a69a",
    "contraction": "#ffa726",
    "churned": "#e53935",
}


def _short_money(cents: int, currency: str) -> str:
    value = cents / 100
    if abs(value) >= 1000:
        return f"{'-' if value < 0 else ''}{abs(value) / 1000:,.1f}k"
    return format_money(cents, currency).replace(".00", "")


def mrr_chart(points: Sequence[MrrPointView], currency: str) -> str:
    """MRR per month (line) over the month's movements (bars above and below zero)."""
    width, height, pad_left, pad_bottom, pad_top = 760, 280, 64, 36, 16
    if not points:
        return '<p class="empty">No revenue in this range yet.</p>'
    plot_w, plot_h = width - pad_left - 16, height - pad_bottom - pad_top
    ups = [p.new_cents + p.expansion_cents + p.reactivated_cents for p in points]
    downs = [p.contraction_cents + p.churned_cents for p in points]
    top = max([*ups, *(p.mrr_cents for p in points), 1])
    bottom = min([*downs, 0])
    span = top - bottom or 1

    def y(value: int) -> float:
        return pad_top + (top - value) / span * plot_h

    step = plot_w / len(points)
    bar = max(step * 0.55, 2)
    parts = [
        f'<svg class="chart" id="mrr-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="MRR and its movements per month">',
        f'<line x1="{pad_left}" y1="{y(0):.1f}" x2="{width - 16}" y2="{y(0):.1f}" '
        'stroke="#9e9e9e"/>',
    ]
    for tick in (top, (top + bottom) // 2, bottom):
        parts.append(
            f'<text x="{pad_left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" class="axis">'
            f"{escape(_short_money(tick, currency))}</text>"
        )
    for index, point in enumerate(points):
        x = pad_left + index * step + (step - bar) / 2
        level = 0
        for name in ("new", "expansion", "reactivated"):
            cents = getattr(point, f"{name}_cents")
            if cents > 0:
                parts.append(
                    f'<rect class="bar {name}" x="{x:.1f}" y="{y(level + cents):.1f}" '
                    f'width="{bar:.1f}" height="{y(level) - y(level + cents):.1f}" '
                    f'fill="{_MOVEMENT_COLORS[name]}"><title>{point.month} {name}: '
                    f"{escape(format_money(cents, currency))}</title></rect>"
                )
                level += cents
        level = 0
        for name in ("contraction", "churned"):
            cents = getattr(point, f"{name}_cents")
            if cents < 0:
                parts.append(
                    f'<rect class="bar {name}" x="{x:.1f}" y="{y(level):.1f}" '
                    f'width="{bar:.1f}" height="{y(level + cents) - y(level):.1f}" '
                    f'fill="{_MOVEMENT_COLORS[name]}"><title>{point.month} {name}: '
                    f"{escape(format_money(cents, currency))}</title></rect>"
                )
                level += cents
        parts.append(
            f'<text x="{pad_left + index * step + step / 2:.1f}" y="{height - 12}" '
            f'text-anchor="middle" class="axis">{escape(point.month[2:])}</text>'
        )
    line = " ".join(
        f"{pad_left + i * step + step / 2:.1f},{y(p.mrr_cents):.1f}" for i, p in enumerate(points)
    )
    parts.append(
        f'<polyline class="mrr-line" points="{line}" fill="none" stroke="#1565c0" '
        'stroke-width="2.5"/>'
    )
    for i, p in enumerate(points):
        parts.append(
            f'<circle cx="{pad_left + i * step + step / 2:.1f}" cy="{y(p.mrr_cents):.1f}" r="3" '
            f'fill="#1565c0"><title>{p.month} MRR: '
            f"{escape(format_money(p.mrr_cents, currency))}</title></circle>"
        )
    parts.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{color}"></i>{name}</span>'
        for name, color in _MOVEMENT_COLORS.items()
    )
    return (
        "".join(parts) + f'<div class="legend"><span><i style="background:#1565c0"></i>MRR'
        f"</span>{legend}</div>"
    )


def funnel_chart(funnel: TrialFunnelView) -> str:
    rows = [
        ("Trials started", funnel.started, "#5c6bc0"),
        ("Converted within the trial", funnel.converted_within_trial, "#2e7d32"),
        ("Converted after expiry", funnel.converted_after_expiry, "#66bb6a"),
        ("Converted via win-back", funnel.converted_via_winback, "#26a69a"),
        ("Expired, not converted", funnel.expired_unconverted, "#e53935"),
        ("Still in trial", funnel.in_trial, "#bdbdbd"),
    ]
    width, row_h, label_w = 520, 30, 210
    biggest = max([count for _, count, _ in rows] + [1])
    parts = [
        f'<svg class="chart" id="funnel-chart" viewBox="0 0 {width} {row_h * len(rows) + 8}" '
        'role="img" aria-label="Trial funnel">'
    ]
    for index, (label, count, color) in enumerate(rows):
        y = 4 + index * row_h
        bar = (width - label_w - 60) * count / biggest
        parts.append(
            f'<text x="0" y="{y + 19}" class="label">{escape(label)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{bar:.1f}" height="{row_h - 10}" '
            f'fill="{color}"/>'
            f'<text x="{label_w + bar + 6:.1f}" y="{y + 19}" class="label">{count}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def churn_chart(months: Sequence[ChurnMonthView], currency: str) -> str:
    """Churned MRR per month, voluntary and involuntary stacked."""
    if not months:
        return '<p class="empty">No churn data in this range.</p>'
    width, height, pad_left, pad_bottom = 520, 200, 56, 30
    plot_h = height - pad_bottom - 12
    biggest = max(
        [m.voluntary_churned_mrr_cents + m.involuntary_churned_mrr_cents for m in months] + [1]
    )
    step = (width - pad_left - 8) / len(months)
    bar = max(step * 0.55, 2)
    parts = [
        f'<svg class="chart" id="churn-chart" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Churned MRR per month">'
    ]
    parts.append(
        f'<text x="{pad_left - 6}" y="16" text-anchor="end" class="axis">'
        f"{escape(_short_money(biggest, currency))}</text>"
    )
    for index, month in enumerate(months):
        x = pad_left + index * step + (step - bar) / 2
        base: float = 12 + plot_h
        for cents, color, kind in (
            (month.voluntary_churned_mrr_cents, "#ffa726", "voluntary"),
            (month.involuntary_churned_mrr_cents, "#e53935", "involuntary"),
        ):
            h = plot_h * cents / biggest
            if h > 0:
                parts.append(
                    f'<rect class="bar {kind}" x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" '
                    f'height="{h:.1f}" fill="{color}"><title>{month.month} {kind}: '
                    f"{escape(format_money(cents, currency))}</title></rect>"
                )
                base -= h
        parts.append(
            f'<text x="{pad_left + index * step + step / 2:.1f}" y="{height - 10}" '
            f'text-anchor="middle" class="axis">{escape(month.month[2:])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts) + (
        '<div class="legend"><span><i style="background:#ffa726"></i>voluntary</span>'
        '<span><i style="background:#e53935"></i>involuntary (dunning)</span></div>'
    )


def forecast_chart(
    history: Sequence[ForecastHistoryMonthView],
    ahead: Sequence[ForecastMonthView],
    currency: str,
    coverage: float,
) -> str:
    """The actual MRR (the last 24 months with revenue), then the forecast's point line
    inside its prediction interval, a rule at the moment it forecasts from."""
    past = list(history)[-24:]
    while past and past[0].mrr_cents == 0:
        past.pop(0)
    if not past or not ahead:
        return '<p class="empty">No forecast to draw.</p>'
    width, height, pad_left, pad_bottom, pad_top = 760, 260, 64, 36, 16
    plot_w, plot_h = width - pad_left - 16, height - pad_bottom - pad_top
    top = max([*(p.mrr_cents for p in past), *(m.mrr_high_cents for m in ahead), 1])
    count = len(past) + len(ahead)
    step = plot_w / max(count - 1, 1)

    def x(index: int) -> float:
        return pad_left + index * step

    def y(value: int) -> float:
        return pad_top + (top - value) / top * plot_h

    now = len(past) - 1
    last = past[-1].mrr_cents
    parts = [
        f'<svg class="chart" id="forecast-chart" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Actual MRR and the MRR forecast with its prediction interval">',
        f'<line x1="{pad_left}" y1="{y(0):.1f}" x2="{width - 16}" y2="{y(0):.1f}" '
        'stroke="#9e9e9e"/>',
    ]
    for tick in (top, top // 2, 0):
        parts.append(
            f'<text x="{pad_left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" class="axis">'
            f"{escape(_short_money(tick, currency))}</text>"
        )
    upper = [(x(now), y(last))] + [(x(now + m.horizon), y(m.mrr_high_cents)) for m in ahead]
    lower = [(x(now + m.horizon), y(m.mrr_low_cents)) for m in reversed(ahead)]
    parts.append(
        '<polygon class="forecast-band" points="'
        + " ".join(f"{px:.1f},{py:.1f}" for px, py in [*upper, *lower])
        + '" fill="#90caf9" fill-opacity="0.45" stroke="none"/>'
    )
    parts.append(
        f'<line class="forecast-now" x1="{x(now):.1f}" y1="{pad_top}" x2="{x(now):.1f}" '
        f'y2="{y(0):.1f}" stroke="#757575" stroke-dasharray="3 3"/>'
        f'<text x="{x(now) + 4:.1f}" y="{pad_top + 10}" class="axis">forecast</text>'
    )
    actual = " ".join(f"{x(i):.1f},{y(p.mrr_cents):.1f}" for i, p in enumerate(past))
    parts.append(
        f'<polyline class="actual-line" points="{actual}" fill="none" stroke="#1565c0" '
        'stroke-width="2.5"/>'
    )
    line = " ".join(
        [f"{x(now):.1f},{y(last):.1f}"]
        + [f"{x(now + m.horizon):.1f},{y(m.mrr_cents):.1f}" for m in ahead]
    )
    parts.append(
        f'<polyline class="forecast-line" points="{line}" fill="none" stroke="#0d47a1" '
        'stroke-width="2" stroke-dasharray="6 4"/>'
    )
    for m in ahead:
        parts.append(
            f'<circle cx="{x(now + m.horizon):.1f}" cy="{y(m.mrr_cents):.1f}" r="3" '
            f'fill="#0d47a1"><title>{m.end:%Y-%m-%d} MRR '
            f"{escape(format_money(m.mrr_cents, currency))} "
            f"({escape(format_money(m.mrr_low_cents, currency))} to "
            f"{escape(format_money(m.mrr_high_cents, currency))})</title></circle>"
        )
    ends = [p.end for p in past] + [m.end for m in ahead]
    every = max(1, -(-count // 12))
    for index, end in enumerate(ends):
        if (index - now) % every == 0:
            parts.append(
                f'<text x="{x(index):.1f}" y="{height - 12}" text-anchor="middle" '
                f'class="axis">{end:%y-%m}</text>'
            )
    parts.append("</svg>")
    return "".join(parts) + (
        '<div class="legend"><span><i style="background:#1565c0"></i>actual MRR</span>'
        '<span><i style="background:#0d47a1"></i>forecast</span>'
        '<span><i style="background:#90caf9"></i>'
        f"{coverage:.0%} prediction interval</span></div>"
    )
