"""Page -> bytes: Jinja2 with autoescape and StrictUndefined, and the shipped assets."""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache
from pathlib import Path

import jinja2

from coachgen import i18n
from coachgen.plan.charts import habit_text
from coachgen.plan.page import Asset, Copied, Generated, Page, Redirect, Rendered
from coachgen.privacy.crypto import Lock
from coachgen.privacy.rules import strip_metadata
from coachgen.render.sources import asset_path, templates_dir

# ---------------------------------------------------------------- filters
# Each writes in the page's language (`lang` in its context; English where a page has none).


def _lang(context) -> i18n.Language:
    return context.get("lang") or i18n.language()


@jinja2.pass_context
def day(context, value: dt.date | None) -> str:
    return _lang(context).day(value)


@jinja2.pass_context
def short_day(context, value: dt.date | None) -> str:
    return _lang(context).short_day(value)


@jinja2.pass_context
def long_day(context, value: dt.date | None) -> str:
    return _lang(context).long_day(value)


@jinja2.pass_context
def weekday_day(context, value: dt.date | None) -> str:
    return _lang(context).weekday_day(value)


@jinja2.pass_context
def short_month_day(context, value: dt.date | None) -> str:
    return _lang(context).short_month_day(value)


@jinja2.pass_context
def clock(context, value: dt.time | None) -> str:
    return _lang(context).time(value)


@jinja2.pass_context
def num(context, value: float | int | None) -> str:
    return _lang(context).num(value)


@jinja2.pass_context
def metric_value_filter(context, value: float | None, spec) -> str:
    return metric_value(value, spec, _lang(context))


def due_phrase(due: dt.date | None, today: dt.date, lang: i18n.Language | None = None) -> str:
    """'due today', 'due tomorrow', 'due in 3 days', '2 days overdue', else the date."""
    lang = lang or i18n.language()
    _ = lang.gettext
    if due is None:
        return _("no due date")
    days = (due - today).days
    if days == 0:
        return _("due today")
    if days == 1:
        return _("due tomorrow")
    if 1 < days <= 14:
        return _("due %(when)s") % {"when": lang.relative(days)}
    if -60 <= days < 0:
        return lang.counted("%(num)s day overdue", "%(num)s days overdue", -days)
    return _("due %(date)s") % {"date": lang.day(due)}


def ago(value: dt.date | None, today: dt.date, lang: i18n.Language | None = None) -> str:
    lang = lang or i18n.language()
    if value is None:
        return lang.gettext("never")
    days = (today - value).days
    if days == 0:
        return lang.gettext("today")
    if days == 1:
        return lang.gettext("yesterday")
    return lang.relative(-days)


def metric_value(value: float | None, spec, lang: i18n.Language | None = None) -> str:
    """A value as a reader wants it: a habit in days of a week, a rating out of its scale, an
    amount of money as the language writes it (£7,250; 7.250 £), other units after (75 kg)."""
    lang = lang or i18n.language()
    if value is None:
        return "–"
    if spec.kind == "habit":
        return habit_text(value, lang)
    if spec.kind == "rating":
        return f"{lang.num(value)}/{spec.scale}"
    if spec.unit in i18n.CURRENCIES:
        return lang.money(value, spec.unit)
    return lang.num(value) + (f" {spec.unit}" if spec.unit else "")


@jinja2.pass_context
def _due_phrase(context, due, today):
    return due_phrase(due, today, _lang(context))


@jinja2.pass_context
def _ago(context, value, today):
    return ago(value, today, _lang(context))


@lru_cache(maxsize=64)
def _callables(lang: i18n.Language) -> dict:
    """gettext and ngettext for Jinja's i18n extension, in one language (newstyle: they
    escape and fill in `%(name)s` themselves)."""
    from jinja2.ext import _make_new_gettext, _make_new_ngettext, _make_new_pgettext

    gettext = _make_new_gettext(lang.gettext)
    return {"gettext": gettext, "_": gettext, "ngettext": _make_new_ngettext(lang.ngettext),
            "pgettext": _make_new_pgettext(lang.pgettext)}


def _bytecode_cache(folder: Path) -> jinja2.BytecodeCache | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


_OWN_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


@lru_cache(maxsize=8)
def environment(overrides: Path | None, compiled: Path | None = None) -> jinja2.Environment:
    """Vault overrides (`templates/` in the vault) first, then the built-in templates.
    `compiled` keeps the templates compiled between runs (Jinja checks each one's source)."""
    loaders: list[jinja2.BaseLoader] = []
    if overrides is not None and overrides.is_dir():
        loaders.append(jinja2.FileSystemLoader(str(overrides)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # compiled code depends on this module's filters (which take the context, say), not
        # only on the templates' source: a new coachgen compiles afresh
        bytecode_cache=_bytecode_cache(compiled / _OWN_DIGEST) if compiled is not None else None,
    )
    env.add_extension("jinja2.ext.i18n")
    # each page brings its own language: see `render`
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
    env.globals["lang"] = i18n.language()  # a template rendered without a page's language speaks English
    env.filters.update(day=day, short_day=short_day, long_day=long_day, short_month_day=short_month_day,
                       weekday_day=weekday_day, clock=clock, num=num, metric_value=metric_value_filter)
    env.globals.update(due_phrase=_due_phrase, ago=_ago)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":"), "allow_nan": False}
    return env


def render(page: Page, env: jinja2.Environment, vault: Path, lock: Lock | None = None) -> bytes:
    """The bytes of one planned page; a sealed page is encrypted with `lock`."""
    match page:
        case Rendered(template=template, context=context):
            data = env.get_template(template).render(_in_language(context)).encode("utf-8")
        case Generated(make=make, args=args):
            data = make(*args)
        case Copied(source=source):
            data = strip_metadata((vault / source).read_bytes(), source)
        case Asset(name=name):
            data = asset_path(name).read_bytes()
        case Redirect(data=data):
            pass
        case _:
            raise TypeError(f"{page.path} cannot be made here ({type(page).__name__})")
    if not page.sealed:
        return data
    if lock is None:
        raise ValueError(f"{page.path} is to be sealed but has no password")
    logical = page.logical
    envelope = lock.seal(logical, data)
    if not isinstance(page, Rendered):
        return envelope
    rel = "../" * logical.count("/")
    context = _in_language({"envelope": envelope.decode("ascii"), "rel": rel, "lang": page.context.get("lang")})
    return env.get_template("locked.html").render(context).encode("utf-8")


def _in_language(context: dict) -> dict:
    lang = context.get("lang") or i18n.language()
    return {**context, "lang": lang, **_callables(lang)}
