"""`init` and `new`: the files a coach starts from. They only ever create: an existing file
is never touched, and saying so is an error, not a silent skip."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from coachgen import i18n
from coachgen.model.clients import Client, Metric
from coachgen.parse import tasks
from coachgen.parse.notes import PREPARED
from coachgen.slug import slugify
from coachgen.vault.paths import CLIENTS_DIR, PROFILE


class Exists(Exception):
    """The file is already there; scaffolding never overwrites."""


def create(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x", encoding="utf-8") as fh:  # "x": fails if the file exists, even in a race
            fh.write(text)
    except FileExistsError:
        raise Exists(f"{path} already exists; coachgen never overwrites a file") from None
    return path


CONFIG = '''# coachgen settings. Every line is optional; remove the # to use one.
title = "{title}"
# coach = "Your Name"              # shown on each client's site
# coach_email = "you@example.org"  # where clients' "Send an update" e-mails go (coachgen checkins)
# timezone = "Europe/London"       # for "today", due dates and the calendar (IANA name)
# output = "_site"                 # where the sites are built, relative to this folder
# base_url = "https://example.org" # where the sites will live: absolute links in calendars
# allow_html = false               # true: raw HTML in notes is kept (sanitized)
# nudge_after_days = 21            # flag clients with no session for this many days
# language = "en"                  # the sites' words and dates: {languages}
#                                  # (a client.md may say its own: language: de)

# Every client's site needs a password (`coachgen password SLUG --save`) unless their
# client.md says `password: none`; the overview likewise, unless overview_password = "none".
# "optional" publishes sites without a password by default: only for notes that are not private.
passwords = "required"
'''

GITIGNORE = """# coachgen: the built sites, and passwords, salts and caches, never go into git
_site/
.coachgen/
# Obsidian's per-device state
.obsidian/workspace*.json
.trash/
"""

README = """# {title}

This folder is a coachgen vault: one folder per client under `clients/`, each with a
`client.md` (their profile, goals and games) and a note per session.

- `coachgen new client "Ada Lovelace"`: a new client.
- `coachgen new session ada-lovelace`: today's session note, prepared with their open
  actions to review and a slot for each metric; it reaches their site once you write in it.
- `coachgen watch`: write with the client's site open beside you; it updates on every save.
- `coachgen build`: build every client's site into `_site/` to publish.
- `coachgen password ada-lovelace --save`: protect a client's site with a password.

Anything in `%% comments %%`, `> [!private]` callouts, `client.md`'s body and notes with
`private: true` stays with you: it never reaches a client's site.
"""


def init(folder: Path) -> list[Path]:
    """A new vault ready for git. Refuses if any of its files exists."""
    title = folder.resolve().name.replace("-", " ").replace("_", " ").title() or "Coaching"
    files = {
        "coachgen.toml": CONFIG.format(title=title, languages=", ".join(i18n.SHIPPED)),
        ".gitignore": GITIGNORE,
        "README.md": README.format(title=title),
        "clients/.gitkeep": "",
    }
    clashes = [name for name in files if (folder / name).exists()]
    if clashes:
        raise Exists(f"{', '.join(clashes)} already exist{'s' if len(clashes) == 1 else ''} in {folder}; "
                     "coachgen never overwrites a file")
    return [create(folder / name, text) for name, text in files.items()]


# `\x20` is the empty goal item's trailing space, escaped so that the source has none
CLIENT = '''---
name: {name}
started: {today}
next_session:                      # e.g. {next_week} 10:00
# engagement: {{sessions: 12, from: {today}, until: {until}}}
goals:                             # the bigger future they are living into
  -\x20
metrics:                           # the games: key -> definition (delete what you do not use)
  # weight_kg: {{label: Weight, unit: kg, target: 75, by: {until}, direction: down}}   # a measurement
  # calls: {{label: Sales calls, kind: count, target: 100, by: {until}}}               # amounts that add up
  # energy: {{label: Energy, kind: rating, scale: 10, target: 8}}                      # a score from 1 to 10
  # meditated: {{label: Daily meditation, kind: habit, target: 6/7}}                   # days done of 7
---
Your private file on {name}: background, context, what to watch for.
Nothing below the front-matter is ever published.
'''


def new_client(vault: Path, name: str, today: dt.date) -> Path:
    """`clients/<slug>/client.md`; or, where a folder under clients/ already stands for this
    name (`clients/Bob Smith/` for "Bob Smith"), client.md in that folder, never a second one."""
    folder = slugify(name)
    if not folder:
        raise ValueError("a client's name needs letters or digits")
    clients = vault / CLIENTS_DIR
    existing = (sorted(p.name for p in clients.iterdir() if p.is_dir() and slugify(p.name) == folder)
                if clients.is_dir() else [])
    if folder not in existing and existing:
        folder = existing[0]  # the coach's own folder; `create` still refuses to overwrite its client.md
    text = CLIENT.format(name=name, today=today.isoformat(), next_week=(today + dt.timedelta(days=7)).isoformat(),
                         until=(today + dt.timedelta(days=182)).isoformat())
    return create(clients / folder / PROFILE, text)


def _metric_slot(metric: Metric, lang: i18n.Language) -> str:
    """A metric's line in the front matter, with a comment saying what to write. Its numbers and
    dates are written as the front matter takes them (75.5, 2026-03-20), in every language."""
    _ = lang.gettext
    spec, latest = metric.spec, metric.latest
    hints = []
    if latest is not None:
        shown = f"{round(latest.value * 7)}/7" if spec.kind == "habit" else f"{latest.value:g}"
        hints.append(_("last %(value)s on %(date)s") % {"value": shown + (" " + spec.unit if spec.unit else ""),
                                                        "date": latest.date.isoformat()})
    if spec.target is not None:
        target = f"{spec.target * 7:.0f}/7" if spec.kind == "habit" else f"{spec.target:g}"
        if spec.by:
            hints.append(_("target %(value)s by %(date)s") % {"value": target, "date": spec.by.isoformat()})
        else:
            hints.append(_("target %(value)s") % {"value": target})
    kind = {"count": _("how many since last time"), "rating": _("1 to %(scale)s") % {"scale": spec.scale},
            "habit": _("days done, like 5/7")}.get(spec.kind)
    if kind:
        hints.append(kind)
    return f"  {spec.key}:".ljust(24) + (f"# {spec.label}: {'; '.join(hints)}" if hints else f"# {spec.label}")


def session_note(client: Client, day: dt.date, lang: i18n.Language | None = None) -> str:
    """A note prepared for the call: actions to review, a slot per metric, headings for outcomes.

    Every hint is a comment, for the coach only; a heading left empty is not published; and
    until the coach writes in it, the note is not published at all (its first comment,
    `parse.PREPARED`, says so: see `Note.prepared`). Headings and hints are in `lang` (the
    client's: English if None); what coachgen reads (keys, `[!insight]`, the Tasks emoji,
    the actions as written) stays as it is."""
    lang = lang or i18n.language()
    _ = lang.gettext
    lines = ["---", f"date: {day.isoformat()}", "title: ", "duration: 60", "private: false"]
    if client.metrics:
        lines.append("metrics:                # " + _("fill in what was recorded; leave a slot empty to skip it"))
        lines += [_metric_slot(m, lang) for m in client.metrics]
    lines += ["insights:", "  # - " + _("what they saw newly today"),
              "future:", "  # - " + _("the bigger future they spoke into"),
              "---", f"{PREPARED} " + _("by `coachgen new session`: the client sees this note once you write in it. "
                                        "Comments like this one are for you only, and a heading left empty is not "
                                        "shown.") + " %%",
              "", "## " + _("Review"), ""]
    review = [a for a in client.actions if a.status in ("overdue", "open")]
    if review:
        lines.append("%% " + _("Tick what is done ([x]), cancel what is dropped ([-]); the site updates those actions.")
                     + " %%")
        for action in review:
            # a series' current occurrence, with its rule: ticking it closes that occurrence
            due = f" 📅 {action.due.isoformat()}" if action.due else ""
            rule = f" 🔁 {action.recurrence}" if action.recurrence else ""
            ident = f" 🆔 {action.id}" if action.id else ""
            flag = {v: k for k, v in tasks.PRIORITIES.items()}.get(action.priority or "")
            start = f" 🛫 {action.start.isoformat()}" if action.start and not action.recurrence else ""
            after = f" ⛔ {','.join(action.depends_on)}" if action.depends_on else ""
            lines.append(f"- [ ] {action.text}{due}{rule}{ident}{' ' + flag if flag else ''}{start}{after}")
    else:
        lines.append("%% " + _("No open actions to review.") + " %%")
    lines += ["", "## " + _("What we explored"), "", "", "## " + _("Insights"), "",
              "%% > [!insight] " + _("The breakthrough, in their words") + " %%", "", "## " + _("Next steps"), "",
              "%% - [ ] " + _("A clear next step") + f" 📅 {(day + dt.timedelta(days=7)).isoformat()} %%", "",
              "## " + _("The bigger future"), "", "%% " + _("Where they are going, in their words") + " %%", ""]
    return "\n".join(lines)


def new_session(vault: Path, client: Client, day: dt.date) -> Path:
    """The note, in the client's language (client.md's `language:`, else the vault's)."""
    from coachgen.plan.pages import language_of
    from coachgen.vault.config import load

    config, _ = load(vault)
    return create(vault / CLIENTS_DIR / client.folder / "sessions" / f"{day.isoformat()}.md",
                  session_note(client, day, language_of(client, config)))
