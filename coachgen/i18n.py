"""Languages: the message catalogues every page, calendar, digest and scaffold takes its words
from (gettext `.po` files read through Babel), and the way each language writes dates,
numbers, money and "in 3 days".

The catalogues ship in `coachgen/locales/<code>/LC_MESSAGES/coachgen.po`; a vault may add or
correct one in `locales/<code>.po` (its translated entries win). English is the source
language: its catalogue holds no translations, and a message a catalogue lacks is shown in
English.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_skeleton, format_timedelta, tokenize_pattern
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, get_currency_symbol, get_decimal_symbol
from babel.support import Translations

from coachgen.vault.paths import LOCALES_DIR

SHIPPED = ("en", "de", "fr", "es", "pt", "nl")
DEFAULT = "en"
DOMAIN = "coachgen"
VAULT_DIR = LOCALES_DIR
"""A vault's own catalogues: `locales/<code>.po`."""
PACKAGE_DIR = Path(__file__).resolve().parent / "locales"
CLDR = {"en": "en_GB"}
"""The CLDR locale a code formats with: English as written in Britain (20 Mar 2026, £7,250)."""
CURRENCIES = {"£": "GBP", "€": "EUR", "$": "USD", "¥": "JPY", "₹": "INR", "CHF": "CHF"}


def shipped_po(code: str) -> Path:
    return PACKAGE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def vault_po(vault: Path, code: str) -> Path:
    return vault / VAULT_DIR / f"{code}.po"


def available(vault: Path | None) -> tuple[str, ...]:
    """The shipped languages and any the vault adds."""
    extra: tuple[str, ...] = ()
    if vault is not None and (vault / VAULT_DIR).is_dir():
        extra = tuple(sorted(p.stem for p in (vault / VAULT_DIR).glob("*.po") if p.stem not in SHIPPED))
    return SHIPPED + extra


@lru_cache(maxsize=1)
def _shipped_digest() -> str:
    h = hashlib.sha256()
    for code in SHIPPED:
        if shipped_po(code).is_file():
            h.update(code.encode() + b"\0" + shipped_po(code).read_bytes())
    return h.hexdigest()


def digest(vault: Path | None) -> str:
    """What the words depend on beyond the code: the shipped catalogues (an upgrade that
    corrects a translation rewrites its pages) and the vault's own."""
    h = hashlib.sha256(_shipped_digest().encode())
    if vault is not None and (vault / VAULT_DIR).is_dir():
        for path in sorted((vault / VAULT_DIR).glob("*.po")):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


# Babel reads a pattern on every call; a site writes the same few dates and numbers on
# thousands of pages, so each is formatted once per language.
@lru_cache(maxsize=65536)
def _skeleton(skeleton: str, value: dt.date | dt.time, locale: Locale) -> str:
    return format_skeleton(skeleton, value, locale=locale)


@lru_cache(maxsize=65536)
def _decimal(value: float | int, locale: Locale) -> str:
    with decimal.localcontext() as context:
        context.prec = 400  # a float's 309 digits, so that 1e300 is written whole
        return format_decimal(value, format="#,##0.##", locale=locale)


@dataclass(frozen=True)
class Language:
    code: str
    translations: Translations
    locale: Locale

    # ------------------------------------------------------------ words

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return str(self.translations.pgettext(context, message))

    def counted(self, singular: str, plural: str, n: int | float, **values) -> str:
        """A counted phrase in the language's plural form, its number written as the language
        writes numbers: `counted("%(num)s day", "%(num)s days", 3)` -> "3 days", "3 Tage".
        (`pybabel extract -k counted:1,2` finds these.)"""
        return self.ngettext(singular, plural, int(n)) % {"num": self.num(n), **values}

    # ------------------------------------------------------------ dates and numbers

    @property
    def tag(self) -> str:
        """The locale as a browser names it (en-GB, de), for the page scripts' Intl."""
        return str(self.locale).replace("_", "-")

    @property
    def decimal_mark(self) -> str:
        return get_decimal_symbol(self.locale)

    def day(self, value: dt.date | None) -> str:
        """20 Mar 2026 · 20. März 2026 · 20 mars 2026."""
        return _skeleton("yMMMd", value, self.locale) if value else ""

    def short_day(self, value: dt.date | None) -> str:
        """Fri 20 Mar · Fr., 20. März."""
        return _skeleton("MMMEd", value, self.locale) if value else ""

    def weekday_day(self, value: dt.date | None) -> str:
        """Fri, 20 Mar 2026 · Fr., 20. März 2026."""
        return _skeleton("yMMMEd", value, self.locale) if value else ""

    def long_day(self, value: dt.date | None) -> str:
        """20 March 2026 · 20. März 2026."""
        return _skeleton("yMMMMd", value, self.locale) if value else ""

    def month_day(self, value: dt.date | None) -> str:
        """20 March · 20. März."""
        return _skeleton("MMMMd", value, self.locale) if value else ""

    def short_month_day(self, value: dt.date | None) -> str:
        """12 Jan · 12. Jan."""
        return _skeleton("MMMd", value, self.locale) if value else ""

    def d3_date(self, skeleton: str) -> str:
        """A CLDR date skeleton as a Plotly (d3) date format in this language: "MMMd" ->
        "%-d %b" in English, "%-d. %b" in German, "%-d de %b" in Portuguese."""
        fields = {("d", 1): "%-d", ("d", 2): "%d", ("M", 3): "%b", ("L", 3): "%b", ("M", 4): "%B", ("L", 4): "%B",
                  ("y", 1): "%Y", ("y", 4): "%Y", ("E", 3): "%a", ("E", 4): "%A"}
        out = []
        for _kind, value in tokenize_pattern(self.locale.datetime_skeletons[skeleton].pattern):
            if isinstance(value, tuple):  # a field: a letter and how many times it is written
                out.append(fields.get((str(value[0]), int(value[1])), ""))
            else:
                out.append(value.replace("%", "%%"))
        return "".join(out)

    def time(self, value: dt.time | None) -> str:
        return _skeleton("Hm", value, self.locale) if value else ""

    def num(self, value: float | int | None) -> str:
        """7,250 · 7.250 · 7 250; at most two decimals, none where the value is whole."""
        if value is None:
            return ""
        return _decimal(value, self.locale)

    def money(self, value: float, unit: str) -> str:
        """£7,250 · 7.250 £ · £7,250.50: the language's own place for the sign; cents only where there are any."""
        pattern = self.locale.currency_formats["standard"].pattern.split(";")[0]
        if float(value).is_integer():
            pattern = pattern.replace("0.00", "0")
        code = CURRENCIES[unit]
        with decimal.localcontext() as context:
            context.prec = 400
            text = format_currency(value, code, format=pattern, locale=self.locale, currency_digits=False)
        # the sign the coach wrote, where the language would name the currency ("£GB", "GBP")
        return text.replace(get_currency_symbol(code, self.locale), unit)

    def relative(self, days: int) -> str:
        """in 3 days · vor 3 Tagen (never rounded to weeks or months)."""
        return format_timedelta(dt.timedelta(days=days), granularity="day", threshold=100_000,
                                add_direction=True, locale=self.locale)

    @property
    def first_week_day(self) -> int:
        """0 for Monday ... 6 for Sunday, as the locale's calendars start the week."""
        return self.locale.first_week_day

    def plotly(self) -> dict:
        """A Plotly locale (`Plotly.register`) made from the CLDR data: month and day names and
        the number separators, so that charts need no locale file from anywhere."""
        loc = self.locale
        months = loc.months["format"]
        days = loc.days["format"]
        order = [6, 0, 1, 2, 3, 4, 5]  # Plotly counts from Sunday, CLDR from Monday
        symbols = loc.number_symbols["latn"] if "latn" in loc.number_symbols else loc.number_symbols
        return {
            "moduleType": "locale",
            "name": self.code,
            "dictionary": {},
            "format": {
                "days": [days["wide"][i] for i in order],
                "shortDays": [days["abbreviated"][i] for i in order],
                "months": [months["wide"][i] for i in range(1, 13)],
                "shortMonths": [months["abbreviated"][i] for i in range(1, 13)],
                "decimal": symbols["decimal"],
                "thousands": symbols["group"],
                "date": "%d/%m/%Y",
            },
        }


class UnknownLanguage(ValueError):
    pass


def unknown(code: str, vault: Path | None) -> str:
    return f"'language' must be one of {', '.join(available(vault))} (or a catalogue of your own in {VAULT_DIR}/)"


def language(code: str = DEFAULT, vault: Path | None = None) -> Language:
    """The language `code`, with the vault's corrections. UnknownLanguage names the codes there are."""
    codes = available(vault)
    if code not in codes:
        raise UnknownLanguage(unknown(code, vault))
    return _load(code, str(vault) if vault is not None else None, digest(vault))


@lru_cache(maxsize=32)
def _load(code: str, vault: str | None, _digest: str) -> Language:
    catalog = None
    shipped = shipped_po(code)
    if shipped.is_file():
        with shipped.open("rb") as fh:
            catalog = read_po(fh, locale=CLDR.get(code, code), domain=DOMAIN)
    own = vault_po(Path(vault), code) if vault is not None else None
    if own is not None and own.is_file():
        with own.open("rb") as fh:
            mine = read_po(fh, locale=CLDR.get(code, code), domain=DOMAIN)
        if catalog is None:
            catalog = mine
        else:
            for message in mine:
                if message.id and message.string and not message.fuzzy:
                    if message.id in catalog:  # setting would merge, keeping the shipped string
                        del catalog[message.id]
                    catalog[message.id] = message
    buffer = io.BytesIO()
    if catalog is not None:
        write_mo(buffer, catalog)
        buffer.seek(0)
        translations = Translations(buffer, domain=DOMAIN)
    else:
        translations = Translations(domain=DOMAIN)
    try:
        locale = Locale.parse(CLDR.get(code, code))
    except (ValueError, LookupError):
        locale = Locale.parse(CLDR[DEFAULT])  # a vault's own language CLDR does not know: English forms
    return Language(code, translations, locale)
