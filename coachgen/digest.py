"""The follow-up a coach sends after a session: every open and overdue action with its due date,
the metrics recorded against their targets (as the site shows them), insights, a link to the
client's site; as plain text and HTML, and by mail through the coach's SMTP server."""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
import tomllib
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from coachgen.model.clients import Client, Session
from coachgen.parse.notes import parse_note
from coachgen.plan.pages import language_of
from coachgen.render.templates import _in_language, environment, metric_value
from coachgen.vault.config import Config, is_address
from coachgen.vault.paths import SECRETS, profile


@dataclass(frozen=True)
class Digest:
    subject: str
    text: str
    html: str


def sessions_since(client: Client, since: dt.date | None) -> list[Session]:
    """The sessions a digest covers: those on or after `since`, else the latest one."""
    if since is None:
        return list(client.sessions[-1:])
    return [s for s in client.sessions if s.date >= since]


def make(client: Client, config: Config, since: dt.date | None, today: dt.date) -> Digest:
    """The digest in the client's language (client.md's `language:`, else the vault's)."""
    lang = language_of(client, config)
    sessions = sessions_since(client, since)
    if not sessions:
        raise LookupError(f"{client.name} has no shared session {'since ' + since.isoformat() if since else 'yet'}")
    # every action still to do, as the site's "Next steps" lists them: overdue first, then by due date
    overdue = [a for a in client.actions if a.status == "overdue"]
    still_open = [a for a in client.actions if a.status == "open" and not a.later]
    later = [a for a in client.actions if a.status == "open" and a.later]  # starts after today: apart
    # each metric these sessions recorded, once, at its latest value as the site shows it (a count's
    # running total), with what a count gained in them
    covered = {s.id for s in sessions}
    values, added = [], {}
    for metric in client.metrics:
        points = [p for p in metric.points if p.session in covered]
        if points:
            spec = metric.spec
            values.append((spec, points[-1].date, metric_value(points[-1].shown, spec, lang), spec.target))
            if spec.kind == "count":
                added[spec.key] = metric_value(sum(p.value for p in points), spec, lang)
    context = {
        "client": client, "site": {"title": config.title, "coach": config.coach}, "today": today,
        "sessions": sessions,
        "overdue": overdue, "open": still_open, "later": later, "actions": overdue + still_open + later,
        "values": values, "added": added,
        "insights": [text for s in sessions for text in s.insights],
        "future": [text for s in sessions for text in s.future],
        "url": f"{config.base_url.rstrip('/')}/clients/{client.slug}/" if config.base_url else None,
        "lang": lang,
    }
    context = _in_language(context)  # the templates' words (`_`, `{% trans %}`) in the client's language
    env = environment(config.vault / "templates")
    when = {"date": lang.month_day(sessions[0].date)}
    if len(sessions) > 1:
        subject = lang.gettext("Your next steps from our sessions since %(date)s") % when
    else:
        subject = lang.gettext("Your next steps from our session on %(date)s") % when
    text, html = env.get_template("digest.txt").render(context), env.get_template("digest.html").render(context)
    return Digest(subject, text, html)


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    security: str = "starttls"
    """`starttls`, `ssl` or `none` (for a local relay)."""


def smtp_settings(vault: Path) -> Smtp:
    """`[smtp]` in `.coachgen/secrets.toml`: host, port, from, username, password, security."""
    path = vault / SECRETS
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8")).get("smtp") or {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        data = {}
    if not data.get("host") or not data.get("from"):
        raise LookupError(f"to send mail, put [smtp] with host, port, from (and username, password) in {SECRETS}")
    security = data.get("security", "starttls")
    return Smtp(host=data["host"], port=int(data.get("port", 465 if security == "ssl" else 587)), sender=data["from"],
                username=data.get("username"), password=data.get("password"), security=security)


def recipient(vault: Path, folder: str, to: str | None) -> str:
    """Where a digest goes: `--to`, else `email:` in the client's client.md. LookupError, in
    one line naming the file, line and field but never the address, where it is not one."""
    if to is not None:
        if not is_address(to):
            raise LookupError("--to must be one e-mail address like name@example.com")
        return to
    path = profile(folder)
    note = parse_note(path, (vault / path).read_bytes(), is_client=True, in_client_folder=True, allow_html=False)
    assert note is not None  # None is only ever a note outside clients/, never a client.md
    if not note.email:
        raise LookupError(f"no address: add email: to {path} or pass --to")
    if not is_address(note.email):
        raise LookupError(f"{path}:{note.email_line}: 'email' must be one e-mail address like name@example.com, "
                          "on one line; nothing was sent")
    return note.email


def send(digest: Digest, to: str, smtp: Smtp, timeout: float = 30) -> None:
    message = EmailMessage()
    message["Subject"] = digest.subject
    message["From"] = smtp.sender
    message["To"] = to
    message.set_content(digest.text)
    message.add_alternative(digest.html, subtype="html")
    server: smtplib.SMTP
    if smtp.security == "ssl":
        server = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=ssl.create_default_context())
    else:
        server = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    with server:
        if smtp.security == "starttls":
            server.starttls(context=ssl.create_default_context())
        if smtp.username:
            server.login(smtp.username, smtp.password or "")
        server.send_message(message)
