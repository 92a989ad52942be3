"""Metric series -> Plotly figure dicts (plain data: no HTML, no files, no validation pass).

Colours are a blue and orange pair that colour-blind readers tell apart; the page's
script sets text and grid colours from the theme before drawing.
"""

from __future__ import annotations

import datetime as dt
import math

from babel.numbers import format_percent

from coachgen import i18n
from coachgen.engine import keys
from coachgen.model.clients import Metric

VALUE = "#2563eb"
TARGET = "#c2410c"
MISS = "#93c5fd"
CURRENCIES = frozenset({"£", "$", "€", "¥"})
"""Units a chart writes where the language writes a currency (£7,250; 7.250 £); any other unit
follows the number (75 kg)."""
SHORT_SPAN = 14
"""Days. A chart spanning fewer gets a tick at its dates: left to itself, Plotly ticks hours
there, and "%-d %b" prints each day several times."""
DAY_MS = 86_400_000


def _dates(metric: Metric) -> list[str]:
    return [p.date.isoformat() for p in metric.points]


def habit_text(value: float, lang: i18n.Language | None = None) -> str:
    """A habit's adherence as days of a week ("4 of 7 days"); a share that is no whole number
    of days (0.8, 3/5) as a percentage."""
    lang = lang or i18n.language()
    days = value * 7
    if abs(days - round(days)) < 1e-6:
        return lang.gettext("%(num)s of 7 days") % {"num": lang.num(round(days))}
    return format_percent(value, locale=lang.locale)


def _x_axis(metric: Metric, lang: i18n.Language) -> dict:
    """The date axis: a few days either side of what the chart shows, so a first value sits in
    the middle rather than alone at an edge; on a short span, one tick per date (at most six)."""
    spec, points = metric.spec, metric.points
    days = sorted({p.date for p in points} | ({spec.by} if spec.target is not None and spec.by else set()))
    axis: dict = {"type": "date", "tickformat": lang.d3_date("MMMd"), "automargin": True, "fixedrange": True,
                  "nticks": 6}
    if not days:
        return axis
    span = (days[-1] - days[0]).days
    pad = dt.timedelta(days=3 if span < SHORT_SPAN else max(1, span // 20))
    axis["range"] = [(days[0] - pad).isoformat(), (days[-1] + pad).isoformat()]
    if span < SHORT_SPAN:
        step = -(-len(days) // 6)  # ceil: at most six ticks
        axis["tickvals"] = [d.isoformat() for d in days[::step]]
    return axis


def _y_range(metric: Metric) -> list[float] | None:
    """A number's or count's y range: every value and the target inside, with a margin, so the
    target line shows even beside a first value. None (Plotly decides) where the numbers are too
    large to pad."""
    ys = [y for y in (_num(p.shown) for p in metric.points) if y is not None]
    target = _num(metric.spec.target) if metric.spec.target is not None else None
    if target is not None:
        ys.append(target)
    if not ys:
        return None
    low, high = min(ys), max(ys)
    pad = (high - low) * 0.1 if high > low else max(abs(high) * 0.1, 1)
    bounds = [low - pad, high + pad]
    return bounds if all(math.isfinite(b) for b in bounds) and bounds[0] < low and high < bounds[1] else None


def _num(value: float | int | None) -> float | int | None:
    """A value as the chart may carry it: a non-finite one (which the model never makes, but
    which no JSON may hold) becomes a gap, never a failed build."""
    try:
        return value if value is not None and math.isfinite(value) else None
    except OverflowError:  # an int beyond any float
        return None


def _currency(unit: str, lang: i18n.Language) -> tuple[str, str]:
    """(before, after) the number: the currency sign where the language's currency pattern puts
    it, with the space the pattern has (£7,250 · 7.250 £ · £ 7.250)."""
    pattern = lang.locale.currency_formats["standard"].pattern.split(";")[0]
    sign = pattern.index("\xa4")
    digits = [i for i, c in enumerate(pattern) if c in "#0"]
    if not digits or sign < digits[0]:
        return unit + pattern[sign + 1:digits[0] if digits else sign + 1], ""
    return "", pattern[digits[-1] + 1:sign] + unit


def _separators(lang: i18n.Language) -> str | None:
    """Plotly's `separators` (decimal, then thousands) where the language's are not Plotly's own."""
    symbols = lang.locale.number_symbols
    symbols = symbols["latn"] if "latn" in symbols else symbols
    separators = symbols["decimal"] + symbols["group"]
    return None if separators == ".," else separators


def _target_traces(metric: Metric, xaxis: dict, lang: i18n.Language) -> list[dict]:
    spec, points = metric.spec, metric.points
    if spec.target is None or not points:
        return []
    line = {"color": TARGET, "width": 2, "dash": "dash"}
    if spec.by is not None:
        start = points[0]
        x = [start.date.isoformat(), spec.by.isoformat()]
        y = [_num(start.shown), _num(spec.target)]
        name = lang.gettext("Target path")
    else:  # a target with no date: across the whole chart (with one value, it would be a dot)
        x = list(xaxis["range"])
        y = [_num(spec.target)] * 2
        name = lang.gettext("Target")
    return [{"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y, "line": line, "hoverinfo": "skip"}]


def figure(metric: Metric, *, compact: bool = False, lang: i18n.Language | None = None) -> keys.Plain:
    """The chart of one metric: values (running total for a count, adherence for a habit) and
    target, named in `lang` (English if None). Dates in hovers and ticks are in the language's
    order (d3 formats from CLDR), their month names from its Plotly locale (app.js)."""
    lang = lang or i18n.language()
    spec = metric.spec
    x = _dates(metric)
    y = [_num(p.shown) for p in metric.points]
    # Plotly shows a `%` as written (`%%` would show twice); only `%{` starts a variable,
    # so a unit's own `%{` is broken by a zero-width space
    unit = spec.unit.replace("%{", "%\u200b{") if spec.unit else ""
    before, after = _currency(unit, lang) if spec.unit in CURRENCIES else ("", " " + unit if unit else "")
    single = len(metric.points) == 1
    values: dict
    if spec.kind == "habit":
        goal = _num(spec.target) if spec.target is not None else 1.0
        met = [VALUE if v is not None and goal is not None and v >= goal - 1e-9 else MISS for v in y]
        values = {
            "type": "bar",
            "name": lang.gettext("Adherence"),
            "x": x,
            "y": y,
            "customdata": [habit_text(p.value, lang) for p in metric.points],
            "marker": {"color": met},
            "hovertemplate": "%{x|" + lang.d3_date("yMMMd") + "}: %{customdata}<extra></extra>",
        }
        if single:  # Plotly sizes bars by the gap between dates: one bar alone needs a width
            values["width"] = DAY_MS
    else:
        values = {
            "type": "scatter",
            "mode": "lines+markers",
            "name": lang.gettext("Running total") if spec.kind == "count" else spec.label,
            "x": x,
            "y": y,
            "line": {"color": VALUE, "width": 3},
            # a first value is a lone point: a larger marker shows it is meant
            "marker": {"color": VALUE, "size": (8 if compact else 11) if single else (6 if compact else 8)},
            # a currency's sign is the axis' tick prefix or suffix, which Plotly adds to %{y} itself
            "hovertemplate": "%{x|" + lang.d3_date("yMMMd") + "}: "
                             + ("%{y}" if spec.unit in CURRENCIES else before + "%{y}" + after)
                             + "<extra></extra>",
        }
    xaxis = _x_axis(metric, lang)
    yaxis: dict = {"automargin": True, "zeroline": False, "fixedrange": True}
    if spec.kind == "habit":
        yaxis.update(range=[0, 1.05], tickformat=".0%")
    elif spec.kind == "rating":
        scale = _num(spec.scale) or 10
        yaxis.update(range=[0, scale + 0.5], dtick=2 if scale > 5 else 1)
    else:
        bounds = _y_range(metric)
        if bounds is not None:
            yaxis["range"] = bounds
        if spec.unit in CURRENCIES:
            if before:
                yaxis["tickprefix"] = before
            else:
                yaxis["ticksuffix"] = after
        elif spec.unit:
            yaxis["title"] = {"text": spec.unit}
    layout: dict = {
        "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
        "height": 120 if compact else 280,
        "showlegend": not compact and spec.target is not None,
        "legend": {"orientation": "h", "x": 0, "y": -0.2},
        "xaxis": xaxis,
        "yaxis": yaxis,
        "hovermode": "closest",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "system-ui, sans-serif", "size": 12},
    }
    separators = _separators(lang)
    if separators is not None:
        layout["separators"] = separators
    if compact:
        layout["xaxis"].update(visible=False)
        layout["yaxis"].update(visible=False)
    if spec.kind == "habit":
        layout["bargap"] = 0.3
    return keys.Plain(data=[values] + _target_traces(metric, xaxis, lang), layout=layout)
