"""Received mail for `coachgen checkins`: messages read from `.eml` files, an mbox, a Maildir
folder or the coach's mailbox over IMAP, each handed as raw bytes to the check-in importer
(checkin.py), and each one's plain text taken out of it.

Every byte of a message is hostile: one larger than `checkin.MAX_MESSAGE` is never parsed
(over IMAP, never downloaded), only `text/plain` parts that are not attachments are read,
and nothing from a message reaches a warning. IMAP never changes the mailbox: it is opened
read-only and read with BODY.PEEK, so no message is marked read, moved or deleted.
"""

from __future__ import annotations

import contextlib
import email
import email.message
import email.policy
import imaplib
import mailbox
import os
import re
import socket
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from coachgen import checkin
from coachgen.vault.paths import SECRETS

SEARCH_TEXT = "COACHGEN CHECK-IN"
"""What a check-in's text always holds (its block's BEGIN line): the IMAP search."""
PASSWORD_ENV = "COACHGEN_IMAP_PASSWORD"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
TIMEOUT = 60


class MailError(Exception):
    """Mail that could not be read at all (a file, the IMAP server): one line, never a secret."""


@dataclass
class Message:
    label: str
    """`FILE`, `FILE#N` (the Nth of an mbox or Maildir) or `imap:MAILBOX/UID`: warnings name it."""
    raw: bytes | None
    """None: larger than checkin.MAX_MESSAGE, so never read."""


# ---------------------------------------------------------------- a message's plain text


def plain_text(raw: bytes) -> tuple[str | None, str]:
    """(its Message-ID, the text of its plain-text parts). Refused where it is too large or
    has no plain text; HTML parts and attachments are never read."""
    if len(raw) > checkin.MAX_MESSAGE:
        raise checkin.Refused(f"it is larger than {checkin.MAX_MESSAGE // 1024} KB")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    try:
        message_id = str(message.get("Message-ID") or "").strip()[:998] or None
    except Exception:  # a header too broken to read: the update's own id still stops replays
        message_id = None
    texts: list[str] = []
    _texts(message, texts, depth=0)
    if not texts:
        raise checkin.Refused("it has no plain text to read (HTML and attachments are never read)")
    return message_id, "\n".join(texts)


def _texts(part, out: list[str], depth: int) -> None:
    if depth > 20 or _is_attachment(part):
        return
    kind = part.get_content_type()
    if part.is_multipart():
        for child in part.iter_parts() if hasattr(part, "iter_parts") else part.get_payload():
            _texts(child, out, depth + 1)
    elif kind == "message/rfc822":  # a forward, inline: its own text parts
        inner = part.get_payload()
        for child in inner if isinstance(inner, list) else [inner]:
            if isinstance(child, email.message.Message):
                _texts(child, out, depth + 1)
    elif kind == "text/plain":
        try:
            text = part.get_content()
        except Exception:  # an unknown charset or a broken transfer encoding: read what decodes
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        if isinstance(text, str):
            out.append(text)


def _is_attachment(part) -> bool:
    """Marked as an attachment, or a file by its name (a `.txt` sent inline): never read."""
    try:
        return part.get_content_disposition() == "attachment" or part.get_filename() is not None
    except Exception:
        return True  # a disposition too broken to read is never trusted to be inline


# ---------------------------------------------------------------- files: .eml, mbox, Maildir


def from_files(paths: list[Path], on_error: Callable[[str], None]) -> Iterator[Message]:
    """The messages in each path, in order; a path that cannot be read is reported through
    `on_error` (one line) and the rest are still read."""
    for path in paths:
        label = str(path)
        try:
            if path.is_dir():
                if not ((path / "cur").is_dir() and (path / "new").is_dir()):
                    raise MailError("is a folder but no Maildir (it has no cur/ and new/)")
                yield from _maildir(path, label)
            else:
                with open(path, "rb") as file:
                    start = file.read(5)
                if start == b"From ":
                    yield from _mbox(path, label)
                elif os.path.getsize(path) > checkin.MAX_MESSAGE:
                    yield Message(label, None)
                else:
                    yield Message(label, path.read_bytes())
        except MailError as exc:
            on_error(f"{label}: error: {exc}")
        except OSError as exc:
            on_error(f"{label}: error: cannot read it: {exc.strerror or type(exc).__name__}")


def _mbox(path: Path, label: str) -> Iterator[Message]:
    box = mailbox.mbox(path, create=False)
    try:
        for n, key in enumerate(box.iterkeys(), 1):
            raw = box.get_bytes(key)
            yield Message(f"{label}#{n}", raw if len(raw) <= checkin.MAX_MESSAGE else None)
    finally:
        box.close()


def _maildir(path: Path, label: str) -> Iterator[Message]:
    files = sorted(f"{sub}/{name}" for sub in ("new", "cur") for name in os.listdir(path / sub)
                   if not name.startswith(".") and (path / sub / name).is_file())
    files.sort(key=lambda rel: rel.split("/", 1)[1])  # by the message's name, wherever it now is
    for n, rel in enumerate(files, 1):
        file = path / rel
        if file.stat().st_size > checkin.MAX_MESSAGE:
            yield Message(f"{label}#{n}", None)
        else:
            yield Message(f"{label}#{n}", file.read_bytes())


# ---------------------------------------------------------------- IMAP


@dataclass
class Imap:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    mailbox: str = "INBOX"
    tls: str = "ssl"
    cafile: Path | None = None


def imap_settings(vault: Path) -> Imap:
    """`[imap]` in `.coachgen/secrets.toml`; MailError, naming the file and the fix, where
    something is missing or wrong. The password may come from $COACHGEN_IMAP_PASSWORD."""
    path = vault / SECRETS
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8")).get("imap") if path.is_file() else None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise MailError(f"{SECRETS} cannot be read as TOML: fix it, then put [imap] with host, user and password "
                        "in it") from None
    if not isinstance(data, dict):
        raise MailError(f"to fetch check-ins, put [imap] with host, user and password (and mailbox, security, cafile) "
                        f"in {SECRETS}")
    password = os.environ.get(PASSWORD_ENV) or data.get("password")
    missing = [k for k, v in (("host", data.get("host")), ("user", data.get("user")), ("password", password))
               if not isinstance(v, str) or not v]
    if missing:
        raise MailError(f"[imap] in {SECRETS} needs {', '.join(missing)}"
                        + (f" (or set ${PASSWORD_ENV})" if "password" in missing else ""))
    assert isinstance(password, str)  # checked with host and user just above
    tls = data.get("security", "ssl")
    if tls not in ("ssl", "starttls", "none"):
        raise MailError(f"[imap] security in {SECRETS} is \"ssl\" (the default), \"starttls\" or \"none\"")
    host = data["host"].strip()
    if tls == "none" and host.strip("[]") not in LOCAL_HOSTS:
        raise MailError(f"[imap] security = \"none\" in {SECRETS} would send your password unencrypted: it is allowed "
                        "only for a server on this machine (localhost); use security = \"ssl\" or \"starttls\"")
    port = data.get("port", 993 if tls == "ssl" else 143)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise MailError(f"[imap] port in {SECRETS} must be a port number, like 993")
    box = data.get("mailbox", "INBOX")
    if not isinstance(box, str) or not box or re.search(r"[\x00-\x1f\x7f]", box):
        raise MailError(f"[imap] mailbox in {SECRETS} must be a mailbox's name, like \"INBOX\"")
    cafile = data.get("cafile")
    if cafile is not None:
        if not isinstance(cafile, str) or not cafile:
            raise MailError(f"[imap] cafile in {SECRETS} must be the path of a PEM certificate file")
        cafile = Path(cafile).expanduser()
        cafile = cafile if cafile.is_absolute() else vault / cafile
        if not cafile.is_file():
            raise MailError(f"[imap] cafile in {SECRETS} names no file ({cafile}): give the path of the server's "
                            "PEM certificate, absolute or relative to the vault")
    return Imap(host, port, data["user"], password, box, tls, cafile)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _context(settings: Imap) -> ssl.SSLContext:
    """Certificates are always verified, the host name too; `cafile` trusts a self-signed one."""
    try:
        return ssl.create_default_context(cafile=str(settings.cafile) if settings.cafile else None)
    except (ssl.SSLError, OSError):
        raise MailError(f"[imap] cafile in {SECRETS} is not a PEM certificate file") from None


def _connect(settings: Imap) -> imaplib.IMAP4:
    where = f"{settings.host}:{settings.port}"
    fix = f"check host, port and security under [imap] in {SECRETS}"
    try:
        if settings.tls == "ssl":
            return imaplib.IMAP4_SSL(settings.host, settings.port, ssl_context=_context(settings), timeout=TIMEOUT)
        conn = imaplib.IMAP4(settings.host, settings.port, timeout=TIMEOUT)
        if settings.tls == "starttls":
            try:
                conn.starttls(ssl_context=_context(settings))
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.shutdown()
                raise
        return conn
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or "not trusted"
        raise MailError(f"the IMAP server {where} has a certificate that could not be verified ({reason}); for a "
                        f"server with its own certificate, set cafile = \"path/to/its-cert.pem\" under [imap] in "
                        f"{SECRETS}") from None
    except ssl.SSLError as exc:
        raise MailError(f"no secure connection to the IMAP server {where} ({exc.reason or 'TLS failed'}); "
                        f"{fix}") from None
    except imaplib.IMAP4.error:
        raise MailError(f"the IMAP server {where} refused a secure connection (STARTTLS); {fix}") from None
    except socket.timeout:
        raise MailError(f"the IMAP server {where} did not answer in time; {fix}") from None
    except OSError as exc:
        raise MailError(f"cannot connect to the IMAP server {where} ({exc.strerror or type(exc).__name__}); "
                        f"{fix}") from None


_FETCH_UID = re.compile(rb"\bUID (\d+)")
_FETCH_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


def from_imap(settings: Imap) -> Iterator[Message]:
    """The messages in the mailbox that hold a check-in's text, by UID; those larger than
    checkin.MAX_MESSAGE are listed but never downloaded. MailError on any failure."""
    where = f"{settings.host}:{settings.port}"
    conn = _connect(settings)
    try:
        try:
            conn.login(settings.user, settings.password)
        except (imaplib.IMAP4.error, UnicodeEncodeError):
            raise MailError(f"the IMAP server {where} refused the login of the [imap] user; check user and password "
                            f"in {SECRETS} (or ${PASSWORD_ENV})") from None
        try:
            typ, _ = conn.select(_quote(settings.mailbox), readonly=True)
        except imaplib.IMAP4.error:
            typ = "NO"
        if typ != "OK":
            raise MailError(f"the IMAP server {where} has no mailbox named as [imap] mailbox in {SECRETS} says; "
                            "check its name (the default is INBOX)")
        uids = _search(conn, where)
        sizes = _sizes(conn, uids, where) if uids else {}
        for uid in uids:
            label = f"imap:{settings.mailbox}/{uid}"
            size = sizes.get(uid)
            if size is None or size > checkin.MAX_MESSAGE:
                yield Message(label, None)
                continue
            yield Message(label, _body(conn, uid, where))
    except MailError:
        raise
    except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError) as exc:
        kind = "timed out" if isinstance(exc, socket.timeout) else "failed"
        raise MailError(f"reading the mailbox on the IMAP server {where} {kind}; try again, or check [imap] in "
                        f"{SECRETS}") from None
    finally:
        with contextlib.suppress(Exception):
            conn.logout()


def _search(conn: imaplib.IMAP4, where: str) -> list[int]:
    """UIDs of the messages whose body holds a check-in's text; a server that refuses
    CHARSET is asked again without it."""
    try:
        typ, data = conn.uid("SEARCH", "CHARSET", "UTF-8", "BODY", _quote(SEARCH_TEXT))
    except imaplib.IMAP4.error:
        typ, data = "NO", []
    if typ != "OK":
        typ, data = conn.uid("SEARCH", "BODY", _quote(SEARCH_TEXT))
        if typ != "OK":
            raise MailError(f"the IMAP server {where} refused to search the mailbox")
    return sorted({int(n) for chunk in data if isinstance(chunk, bytes) for n in chunk.split() if n.isdigit()})


def _sizes(conn: imaplib.IMAP4, uids: list[int], where: str) -> dict[int, int]:
    sizes: dict[int, int] = {}
    for start in range(0, len(uids), 200):
        batch = ",".join(str(u) for u in uids[start:start + 200])
        typ, data = conn.uid("FETCH", batch, "(RFC822.SIZE)")
        if typ != "OK":
            raise MailError(f"the IMAP server {where} refused to give the messages' sizes")
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if not isinstance(line, bytes):
                continue
            uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
            if uid and size:
                sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def _body(conn: imaplib.IMAP4, uid: int, where: str) -> bytes | None:
    """The whole message, read without setting \\Seen (BODY.PEEK)."""
    typ, data = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
    if typ != "OK":
        raise MailError(f"the IMAP server {where} refused to give a message")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1] if len(item[1]) <= checkin.MAX_MESSAGE else None
    return b""


# ---------------------------------------------------------------- into the vault


@dataclass
class Summary:
    written: list[str] = field(default_factory=list)
    skipped: int = 0
    already_done: int = 0
    failed: bool = False

    def line(self) -> str:
        n = len(self.written)
        text = f"{n} check-in{'s' if n != 1 else ''} written" + (": " + ", ".join(self.written) if n else "")
        if self.already_done:
            text += (f"; {self.already_done} ticked action{'s' if self.already_done != 1 else ''} already done or "
                     "cancelled in the vault, not written again")
        return text + f"; {self.skipped} skipped"


def take_all(messages: Iterator[Message], importer: checkin.Importer, echo: Callable[[str], None]) -> Summary:
    """Each message into the importer; one warning a line for each skipped one, never quoting it."""
    summary = Summary()
    for message in messages:
        try:
            if message.raw is None:
                raise checkin.Refused(f"it is larger than {checkin.MAX_MESSAGE // 1024} KB")
            message_id, text = plain_text(message.raw)
        except checkin.Refused as why:
            echo(f"{message.label}: warning: skipped: {why}")
            summary.skipped += 1
            continue
        except Exception:  # the email package on bytes it cannot make sense of
            echo(f"{message.label}: warning: skipped: it is not a message that can be read")
            summary.skipped += 1
            continue
        taken = importer.take(text, message_id)
        if taken.written is None:
            echo(f"{message.label}: warning: skipped: {taken.skipped}")
            summary.skipped += 1
            continue
        for warning in taken.warnings:
            echo(f"{message.label}: warning: {warning} (in {taken.written})")
        summary.written.append(taken.written)
        summary.already_done += taken.already_done
    return summary
