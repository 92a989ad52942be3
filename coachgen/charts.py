"""Metric series -> Plotly figure dicts (plain data: no HTML, no files, no validation pass).

Colours are a blue and orange pair that colour-blind readers tell apart; the page's
script sets text and grid colours from the theme before drawing.
"""

from __future__ import annotations

import math

from .model import Metric

VALUE = "#2563eb"
TARGET = "#c2410c"
MISS = "#93c5fd"


def _dates(metric: Metric) -> list[str]:
    return [p.date.isoformat() for p in metric.points]


def _num(value: float | int | None) -> float | int | None:
    """A value as the chart may carry it: a non-finite one (which the model never makes, but
    which no JSON may hold) becomes a gap, never a failed build."""
    try:
        return value if value is not None and math.isfinite(value) else None
    except OverflowError:  # an int beyond any float
        return None


def _target_traces(metric: Metric) -> list[dict]:
    spec, points = metric.spec, metric.points
    if spec.target is None or not points:
        return []
    line = {"color": TARGET, "width": 2, "dash": "dash"}
    if spec.by is not None:
        start = points[0]
        x = [start.date.isoformat(), spec.by.isoformat()]
        y = [_num(start.shown), _num(spec.target)]
        name = "Target path"
    else:
        x = [points[0].date.isoformat(), points[-1].date.isoformat()]
        y = [_num(spec.target)] * 2
        name = "Target"
    return [{"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y, "line": line, "hoverinfo": "skip"}]


def figure(metric: Metric, *, compact: bool = False) -> dict:
    """The chart of one metric: values (running total for a count, adherence for a habit) and target."""
    spec = metric.spec
    x = _dates(metric)
    y = [_num(p.shown) for p in metric.points]
    # Plotly shows a `%` as written (`%%` would show twice); only `%{` starts a variable,
    # so a unit's own `%{` is broken by a zero-width space
    unit = " " + spec.unit.replace("%{", "%\u200b{") if spec.unit else ""
    if spec.kind == "habit":
        goal = _num(spec.target) if spec.target is not None else 1.0
        values = {
            "type": "bar",
            "name": "Adherence",
            "x": x,
            "y": y,
            "marker": {"color": [VALUE if v is not None and goal is not None and v >= goal - 1e-9 else MISS for v in y]},
            "hovertemplate": "%{x|%-d %b %Y}: %{y:.0%}<extra></extra>",
        }
    else:
        values = {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "Running total" if spec.kind == "count" else spec.label,
            "x": x,
            "y": y,
            "line": {"color": VALUE, "width": 3},
            "marker": {"color": VALUE, "size": 6 if compact else 8},
            "hovertemplate": "%{x|%-d %b %Y}: %{y}" + unit + "<extra></extra>",
        }
    yaxis: dict = {"automargin": True, "zeroline": False, "fixedrange": True}
    if spec.kind == "habit":
        yaxis.update(range=[0, 1.05], tickformat=".0%")
    elif spec.kind == "rating":
        scale = _num(spec.scale) or 10
        yaxis.update(range=[0, scale + 0.5], dtick=2 if scale > 5 else 1)
    elif spec.unit:
        yaxis["title"] = {"text": spec.unit}
    layout = {
        "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
        "height": 120 if compact else 280,
        "showlegend": not compact and spec.target is not None,
        "legend": {"orientation": "h", "x": 0, "y": -0.2},
        "xaxis": {"type": "date", "tickformat": "%-d %b", "automargin": True, "fixedrange": True, "nticks": 6},
        "yaxis": yaxis,
        "hovermode": "closest",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "system-ui, sans-serif", "size": 12},
    }
    if compact:
        layout["xaxis"].update(visible=False)
        layout["yaxis"].update(visible=False)
    if spec.kind == "habit":
        layout["bargap"] = 0.3
    return {"data": [values] + _target_traces(metric), "layout": layout}
