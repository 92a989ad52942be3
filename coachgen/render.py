"""Page -> bytes: Jinja2 with autoescape and StrictUndefined, and the shipped assets."""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache
from pathlib import Path

import jinja2

from .charts import CURRENCIES, habit_text
from .crypto import Lock
from .pages import PLOTLY, Page
from .privacy import strip_metadata


@lru_cache(maxsize=1)
def templates_dir() -> Path:
    """Templates ship inside the wheel as `coachgen/templates`; in a checkout they sit beside it."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "base.html").is_file():
            return candidate
    raise FileNotFoundError("coachgen's templates are missing from the installation")


@lru_cache(maxsize=1)
def _builtin_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(templates_dir().rglob("*")):
        if path.is_file():
            h.update(path.relative_to(templates_dir()).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def templates_digest(overrides: Path | None) -> str:
    """What the pages' look depends on: the built-in templates and the vault's overrides."""
    h = hashlib.sha256(_builtin_digest().encode())
    if overrides is not None and overrides.is_dir():
        for path in sorted(overrides.rglob("*")):
            if path.is_file():
                h.update(path.relative_to(overrides).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / PLOTLY


def asset_path(name: str) -> Path:
    return plotly_js() if name == PLOTLY else templates_dir() / "assets" / name


# ---------------------------------------------------------------- filters


def day(value: dt.date | None) -> str:
    return f"{value.day} {value:%b %Y}" if value else ""


def short_day(value: dt.date | None) -> str:
    return f"{value:%a} {value.day} {value:%b}" if value else ""


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def due_phrase(due: dt.date | None, today: dt.date) -> str:
    """'due today', 'due tomorrow', 'due in 3 days', '2 days overdue', else the date."""
    if due is None:
        return "no due date"
    days = (due - today).days
    if days == 0:
        return "due today"
    if days == 1:
        return "due tomorrow"
    if 1 < days <= 14:
        return f"due in {days} days"
    if -60 <= days < 0:
        return f"{_count(-days, 'day')} overdue"
    return f"due {day(due)}"


def ago(value: dt.date | None, today: dt.date) -> str:
    if value is None:
        return "never"
    days = (today - value).days
    if days == 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 0:
        return f"in {_count(-days, 'day')}"
    return f"{_count(days, 'day')} ago"


def num(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value):,}"  # grouped like an int: 7250.0 reads 7,250 too
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:,}"


def metric_value(value: float | None, spec) -> str:
    """A value as a reader wants it: a habit in days of a week, a rating out of its scale, an
    amount of money with its sign first as English writes it (£7,250), other units after (75 kg)."""
    if value is None:
        return "–"
    if spec.kind == "habit":
        return habit_text(value)
    if spec.kind == "rating":
        return f"{num(value)}/{spec.scale}"
    if spec.unit in CURRENCIES:
        return ("-" if value < 0 else "") + spec.unit + num(abs(value))
    return num(value) + (f" {spec.unit}" if spec.unit else "")


def plural(n: int, word: str) -> str:
    return _count(n, word)


def _bytecode_cache(folder: Path) -> jinja2.BytecodeCache | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


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
        bytecode_cache=_bytecode_cache(compiled) if compiled is not None else None,
    )
    env.filters.update(day=day, short_day=short_day, num=num, metric_value=metric_value)
    env.globals.update(due_phrase=due_phrase, ago=ago, plural=plural)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":"), "allow_nan": False}
    return env


def render(page: Page, env: jinja2.Environment, vault: Path, lock: Lock | None = None) -> bytes:
    """The bytes of one planned page; a sealed page is encrypted with `lock`."""
    if page.data is not None:
        data = page.data() if callable(page.data) else page.data
    elif page.copy_from is not None:
        data = strip_metadata((vault / page.copy_from).read_bytes(), page.copy_from)
    elif page.asset is not None:
        data = asset_path(page.asset).read_bytes()
    else:
        data = env.get_template(page.template).render(page.context).encode("utf-8")
    if not page.sealed:
        return data
    if lock is None:
        raise ValueError(f"{page.path} is to be sealed but has no password")
    logical = page.logical
    envelope = lock.seal(logical, data)
    if page.template is None:
        return envelope
    rel = "../" * logical.count("/")
    return env.get_template("locked.html").render(envelope=envelope.decode("ascii"), rel=rel).encode("utf-8")
