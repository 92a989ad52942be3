"""`coachgen checkins fetch` (issue 14) against a real IMAP server: Debian's Dovecot, started on
a free local port with a throwaway configuration and a self-signed certificate. The mailbox is
only read: nothing is marked read, moved or deleted, and a message too large is never fetched."""

from __future__ import annotations

import datetime as dt
import imaplib
import ipaddress
import json
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from coachgen import checkin, inbox
from conftest import write_files
from test_checkins_import import DAY, FILES, b64, body, cli, mail, payload, vault_files

DOVECOT = "/usr/sbin/dovecot"
USER = "coach@practice.example"
PASSWORD = "imap-Pa55-CANARY-word"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA of our own and the server's certificate it signs, for 127.0.0.1 and localhost:
    (the CA's certificate, the server's certificate, its key), in PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "coachgen test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(paths[2], 0o600)
    return paths


class Server:
    def __init__(self, root: Path, port: int, starttls_port: int, cafile: Path, log: Path):
        self.root, self.port, self.starttls_port, self.cafile, self.log = root, port, starttls_port, cafile, log

    def connect(self) -> imaplib.IMAP4_SSL:
        conn = imaplib.IMAP4_SSL("127.0.0.1", self.port,
                                 ssl_context=ssl.create_default_context(cafile=str(self.cafile)), timeout=30)
        conn.login(USER, PASSWORD)
        return conn

    def deliver(self, mailbox: str, *messages: bytes) -> None:
        conn = self.connect()
        try:
            typ, _ = conn.create(mailbox)
            for raw in messages:
                typ, data = conn.append(mailbox, None, None, raw)
                assert typ == "OK", data
        finally:
            conn.logout()

    def flags(self, mailbox: str) -> list[bytes]:
        """Each message's FLAGS, in order: unread ones have no \\Seen."""
        conn = self.connect()
        try:
            typ, _ = conn.select(mailbox, readonly=True)
            assert typ == "OK"
            typ, data = conn.fetch("1:*", "(FLAGS)")
            return [item for item in data if isinstance(item, bytes)]
        finally:
            conn.logout()


@pytest.fixture(scope="session")
def dovecot():
    if not os.path.exists(DOVECOT):
        pytest.skip("dovecot-imapd is not installed: apt-get install -y dovecot-imapd (.ci/run installs it)")
    # its own folder, outside pytest's (which only its owner may enter): Dovecot's auth process
    # runs as its own user and must reach the passwd-file
    root = Path(tempfile.mkdtemp(prefix="coachgen-dovecot-"))
    os.chmod(root, 0o711)
    try:
        yield from _dovecot(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _dovecot(root: Path):
    cafile, cert, key = certificates(root)
    port, starttls_port = free_port(), free_port()
    me = pwd.getpwuid(os.getuid())
    internal = login = mail_user = me
    if os.getuid() == 0:  # Dovecot's own users; its mail processes never run as root
        try:
            internal, login = pwd.getpwnam("dovecot"), pwd.getpwnam("dovenull")
        except KeyError:
            pytest.skip("running as root, Dovecot needs its users 'dovecot' and 'dovenull' (dovecot-core makes them)")
        mail_user = internal
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    os.chmod(root / "users", 0o644)
    log = root / "dovecot.log"
    conf = root / "dovecot.conf"
    conf.write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
listen = 127.0.0.1
protocols = imap
default_internal_user = {internal.pw_name}
default_login_user = {login.pw_name}
first_valid_uid = 0
first_valid_gid = 0
log_path = {log}
info_log_path = {log}
auth_mechanisms = plain login
disable_plaintext_auth = yes
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={root}/home/%u
}}
mail_location = maildir:{root}/mail/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {starttls_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
""")
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
        if sub in ("mail", "home"):
            os.chown(root / sub, mail_user.pw_uid, mail_user.pw_gid)
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                out = process.stdout.read().decode(errors="replace")
                pytest.fail(f"dovecot stopped: {out}\n{log.read_text() if log.exists() else ''}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"dovecot does not listen on {port}:\n{log.read_text() if log.exists() else ''}")
                time.sleep(0.1)
        yield Server(root, port, starttls_port, cafile, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------- helpers


def practice(tmp_path: Path, server, mailbox: str, **imap) -> Path:
    """A vault built once (so each site has its check-in secret), with [imap] settings."""
    settings = {"host": "127.0.0.1", "port": server.port, "user": USER, "password": PASSWORD, "mailbox": mailbox,
                "security": "ssl", "cafile": str(server.cafile), **imap}
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items() if v is not None)
    vault = write_files(tmp_path / "practice", {**FILES, ".coachgen/secrets.toml": "[imap]\n" + lines})
    done = cli("build", "--today", DAY, cwd=vault)
    assert done.returncode == 0, done.stderr
    return vault


def fetch(vault: Path) -> subprocess.CompletedProcess:
    return cli("checkins", "fetch", "--today", DAY, cwd=vault)


def update(vault: Path, ident: str, **changes) -> bytes:
    token = checkin.tokens(vault, ["ada"], create=False)["ada"]
    return mail(body(checkin.seal(token, payload(id=ident, **changes))))


def no_traceback(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stderr and PASSWORD not in done.stdout + done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("coachgen: error: ")]


# ---------------------------------------------------------------- tests


def test_fetch_reads_checkins_and_leaves_the_mailbox_as_it_was(dovecot, tmp_path):
    vault = practice(tmp_path, dovecot, "Fetch")
    dovecot.deliver("Fetch", update(vault, "FirstFirstFirstFirst01", done=[], note="First"),
                    mail("Hi Helen, see you on Tuesday! (no check-in here)\n"),
                    update(vault, "SecondSecondSecond0002", values={"weight_kg": "80"}, note="Second"))
    flags_before = dovecot.flags("Fetch")
    assert len(flags_before) == 3 and not [f for f in flags_before if b"\\Seen" in f]
    before = vault_files(vault)

    done = fetch(vault)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == ("2 check-ins written: clients/ada/check-ins/2026-03-20.md, "
                                            "clients/ada/check-ins/2026-03-20-2.md; 0 skipped")
    assert set(vault_files(vault)) - set(before) == {"clients/ada/check-ins/2026-03-20.md",
                                                     "clients/ada/check-ins/2026-03-20-2.md"}
    assert "checkin: FirstFirstFirstFirst01" in (vault / "clients/ada/check-ins/2026-03-20.md").read_text()
    assert "weight_kg: 80" in (vault / "clients/ada/check-ins/2026-03-20-2.md").read_text()
    # still there, still unread, nothing deleted
    assert dovecot.flags("Fetch") == flags_before

    settled = vault_files(vault)
    again = fetch(vault)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count(": warning: skipped: already imported") == 2
    assert "imap:Fetch/1: warning: skipped: already imported" in again.stderr
    assert again.stderr.splitlines()[-1] == "0 check-ins written; 2 skipped"
    assert vault_files(vault) == settled
    assert dovecot.flags("Fetch") == flags_before


def test_fetch_over_starttls(dovecot, tmp_path):
    vault = practice(tmp_path, dovecot, "Starttls", security="starttls", port=dovecot.starttls_port)
    dovecot.deliver("Starttls", update(vault, "StarttlsStarttlsStart1"))
    done = fetch(vault)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "1 check-in written: clients/ada/check-ins/2026-03-20.md; 0 skipped"


def test_the_password_from_the_environment_wins(dovecot, tmp_path):
    vault = practice(tmp_path, dovecot, "Env", password="not-the-password")
    dovecot.deliver("Env", update(vault, "EnvironmentEnvironment"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "COACHGEN_IMAP_PASSWORD": PASSWORD}
    done = subprocess.run([sys.executable, "-m", "coachgen", "checkins", "fetch", "--today", DAY], cwd=vault,
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "1 check-in written" in done.stderr


def test_a_wrong_password_is_one_line_without_the_password(dovecot, tmp_path):
    vault = practice(tmp_path, dovecot, "INBOX", password="wrong-CANARY-password")
    before = vault_files(vault)
    done = fetch(vault)
    assert done.returncode == 1
    no_traceback(done)
    assert "wrong-CANARY-password" not in done.stdout + done.stderr
    assert done.stderr.splitlines() == [f"coachgen: error: the IMAP server 127.0.0.1:{dovecot.port} refused the login "
                                        "of the [imap] user; check user and password in .coachgen/secrets.toml "
                                        "(or $COACHGEN_IMAP_PASSWORD)"]
    assert vault_files(vault) == before


def test_a_server_certificate_not_trusted_is_refused(dovecot, tmp_path):
    vault = practice(tmp_path, dovecot, "INBOX", cafile=None)
    done = fetch(vault)
    assert done.returncode == 1
    no_traceback(done)
    [line] = done.stderr.splitlines()
    assert line.startswith("coachgen: error: ") and "certificate that could not be verified" in line
    assert "cafile = " in line and ".coachgen/secrets.toml" in line


def test_certificates_and_host_names_are_always_verified(dovecot, tmp_path):
    vault = practice(tmp_path, dovecot, "INBOX")
    context = inbox._context(inbox.imap_settings(vault))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    # the certificate names 127.0.0.1 and localhost: both are accepted
    vault2 = practice(tmp_path / "other", dovecot, "Localhost", host="localhost")
    dovecot.deliver("Localhost", update(vault2, "LocalhostLocalhostLoca"))
    done = fetch(vault2)
    assert done.returncode == 0 and "1 check-in written" in done.stderr, done.stderr


def test_settings_are_checked_before_connecting(tmp_path):
    """Missing or unsafe settings: one line naming the file and the fix, nothing else."""
    cases = {
        "": "put [imap] with host, user and password",
        '[imap]\nhost = "imap.example.org"\n': "[imap] in .coachgen/secrets.toml needs user, password",
        '[imap]\nhost = "imap.example.org"\nuser = "me"\npassword = "p-CANARY"\nsecurity = "none"\n':
            "allowed only for a server on this machine",
        '[imap]\nhost = "imap.example.org"\nuser = "me"\npassword = "p-CANARY"\nsecurity = "tls13"\n':
            "security in .coachgen/secrets.toml",
        '[imap]\nhost = "127.0.0.1"\nuser = "me"\npassword = "p-CANARY"\ncafile = "nowhere.pem"\n':
            "cafile in .coachgen/secrets.toml names no file",
        "[imap\n": "cannot be read as TOML",
    }
    for n, (secrets_toml, expected) in enumerate(cases.items()):
        vault = write_files(tmp_path / f"v{n}", {**FILES, ".coachgen/secrets.toml": secrets_toml})
        done = fetch(vault)
        assert done.returncode == 1, secrets_toml
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("coachgen: error: "), done.stderr
        assert expected in done.stderr and "CANARY" not in done.stderr, done.stderr


def test_nothing_listening_is_one_line(tmp_path):
    port = free_port()
    vault = write_files(tmp_path / "v", {**FILES, ".coachgen/secrets.toml":
                                         f'[imap]\nhost = "127.0.0.1"\nport = {port}\nuser = "me"\npassword = "p"\n'})
    done = fetch(vault)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"coachgen: error: cannot connect to the IMAP server 127.0.0.1:{port}" in done.stderr


def test_a_message_too_large_is_listed_but_never_fetched(dovecot, tmp_path, monkeypatch):
    vault = practice(tmp_path, dovecot, "Large")
    token = checkin.tokens(vault, ["ada"], create=False)["ada"]
    large = mail(body(checkin.seal(token, payload(id="LargeLargeLargeLarge01")), note="big " * 70_000))
    assert len(large) > checkin.MAX_MESSAGE
    dovecot.deliver("Large", update(vault, "SmallSmallSmallSmall01"), large)

    # in-process, to see every command sent: the large one's body is never asked for
    sent: list[tuple] = []
    real = imaplib.IMAP4.uid

    def spy(self, command, *args):
        sent.append((command.upper(), *args))
        return real(self, command, *args)

    monkeypatch.setattr(imaplib.IMAP4, "uid", spy)
    settings = inbox.imap_settings(vault)
    messages = list(inbox.from_imap(settings))
    assert [(m.label, m.raw is None) for m in messages] == [("imap:Large/1", False), ("imap:Large/2", True)]
    bodies = [c for c in sent if c[0] == "FETCH" and "BODY" in " ".join(map(str, c[1:])).upper()]
    assert bodies == [("FETCH", "1", "(BODY.PEEK[])")]
    assert not [c for c in sent if c[0] in ("STORE", "COPY", "MOVE", "EXPUNGE")]

    # and through the command: one written, the large one skipped with a warning
    done = fetch(vault)
    assert done.returncode == 0, done.stderr
    assert "imap:Large/2: warning: skipped: it is larger than 256 KB" in done.stderr
    assert done.stderr.splitlines()[-1] == "1 check-in written: clients/ada/check-ins/2026-03-20.md; 1 skipped"
    assert len(dovecot.flags("Large")) == 2 and not [f for f in dovecot.flags("Large") if b"\\Seen" in f]


def test_a_forged_message_on_the_server_is_skipped_without_being_quoted(dovecot, tmp_path):
    vault = practice(tmp_path, dovecot, "Forged")
    forged = mail(body(checkin.seal(b64(os.urandom(32)), payload(note="CANARY-NOTE"))), subject="CANARY-SUBJECT",
                  sender="CANARY <canary@example.org>")
    dovecot.deliver("Forged", forged)
    before = vault_files(vault)
    done = fetch(vault)
    assert done.returncode == 0, done.stderr
    assert "imap:Forged/1: warning: skipped: its seal does not match" in done.stderr
    assert "CANARY" not in done.stdout + done.stderr and "canary" not in done.stderr
    assert vault_files(vault) == before


def test_a_server_that_refuses_charset_is_searched_without_it(dovecot, tmp_path, monkeypatch):
    vault = practice(tmp_path, dovecot, "Charset")
    dovecot.deliver("Charset", update(vault, "CharsetCharsetCharset1"))
    sent: list[tuple] = []
    real = imaplib.IMAP4.uid

    def refusing(self, command, *args):
        sent.append((command.upper(), *args))
        if command.upper() == "SEARCH" and "CHARSET" in args:
            return "NO", [b"[BADCHARSET] not here"]
        return real(self, command, *args)

    monkeypatch.setattr(imaplib.IMAP4, "uid", refusing)
    messages = list(inbox.from_imap(inbox.imap_settings(vault)))
    assert [m.label for m in messages] == ["imap:Charset/1"] and messages[0].raw
    assert [c for c in sent if c[0] == "SEARCH"] == [("SEARCH", "CHARSET", "UTF-8", "BODY", '"COACHGEN CHECK-IN"'),
                                                     ("SEARCH", "BODY", '"COACHGEN CHECK-IN"')]
