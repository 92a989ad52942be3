"""Metric series -> Plotly figure dicts (plain data: no HTML, no files, no validation pass).

Colours are a blue and orange pair that colour-blind readers tell apart; the page's
script sets text and grid colours from the theme before drawing.
"""

from __future__ import annotations

from .model import Metric

VALUE = "#2563eb"
TARGET = "#c2410c"
MISS = "#93c5fd"


def _dates(metric: Metric) -> list[str]:
    return [p.date.isoformat() for p in metric.points]


def _target_traces(metric: Metric) -> list[dict]:
    spec, points = metric.spec, metric.points
    if spec.target is None or not points:
        return []
    line = {"color": TARGET, "width": 2, "dash": "dash"}
    if spec.by is not None:
        start = points[0]
        x = [start.date.isoformat(), spec.by.isoformat()]
        y = [start.shown, spec.target]
        name = "Target path"
    else:
        x = [points[0].date.isoformat(), points[-1].date.isoformat()]
        y = [spec.target, spec.target]
        name = "Target"
    return [{"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y, "line": line, "hoverinfo": "skip"}]


def figure(metric: Metric, *, compact: bool = False) -> dict:
    """The chart of one metric: values (running total for a count, adherence for a habit) and target."""
    spec = metric.spec
    x = _dates(metric)
    y = [p.shown for p in metric.points]
    unit = f" {spec.unit}" if spec.unit else ""
    if spec.kind == "habit":
        goal = spec.target if spec.target is not None else 1.0
        values = {
            "type": "bar",
            "name": "Adherence",
            "x": x,
            "y": y,
            "marker": {"color": [VALUE if v >= goal - 1e-9 else MISS for v in y]},
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
            "hovertemplate": "%{x|%-d %b %Y}: %{y}" + unit.replace("%", "%%") + "<extra></extra>",
        }
    yaxis: dict = {"automargin": True, "zeroline": False, "fixedrange": True}
    if spec.kind == "habit":
        yaxis.update(range=[0, 1.05], tickformat=".0%")
    elif spec.kind == "rating":
        yaxis.update(range=[0, spec.scale + 0.5], dtick=2 if spec.scale > 5 else 1)
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
