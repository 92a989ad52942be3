"""Password-protected sites (guarantee 5; hazards part E): envelopes, keys, leaks, rotation."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from coachgen.engine import site
from coachgen.privacy import crypto, passwords
from coachgen.privacy.crypto import DecryptError, Lock, b64, unb64
from conftest import ROOT, all_output

PASSWORD = "violet-harbor-quartz-tango-meadow"
KAT_ENVELOPE = (
    "eyJjbGllbnQiOiJhZGEiLCJpdGVyIjo2MDAwMDAsImtkZiI6InBia2RmMi1zaGEyNTYiLCJwYXRoIjoiaW5kZXguaHRtbCIsInNhbHQiOiJBQUVDQXdRRkJnY0lDUW9MREEwT0R3IiwidiI6MX0"
    ".DDVgr5CvE2ie03uF-9ycBp7fyR9TMIvNgv6YG9Q1D8W-y2hPO5be3jhbzdDWzJE"
)

VAULT = {
    "clients/ada/client.md": """---
name: Ada CANARY-NAME
slug: ada
next_session: 2026-04-01 10:00
goals: [CANARY-GOAL]
metrics:
  weight_kg: {label: CANARY-LABEL, unit: kg, target: 75, by: 2026-06-30, direction: down}
---
""",
    "clients/ada/sessions/2026-03-01 CANARY-TITLE.md": """---
actions:
  - CANARY-ACTION 📅 2026-04-10
metrics:
  weight_kg: 81.123
insights: [CANARY-INSIGHT]
---
CANARY-BODY ![[CANARY-IMAGE.png]]
""",
    "clients/ada/sessions/2026-03-08.md": "Second CANARY-SECOND\n\n- [ ] another 📅 2026-04-20\n",
    "clients/ada/CANARY-IMAGE.png": b"\x89PNG\r\n\x1a\nCANARY-PIXELS",
    "clients/bob/client.md": "---\nname: Bob Open\n---\n",
    "clients/bob/2026-03-02.md": "Bob's open note.\n\n- [ ] bob task",
}
CANARIES = ["CANARY-NAME", "CANARY-GOAL", "CANARY-LABEL", "CANARY-TITLE", "CANARY-ACTION", "CANARY-INSIGHT",
            "CANARY-BODY", "CANARY-IMAGE", "CANARY-PIXELS", "CANARY-SECOND", "81.123", "canary-title"]


@pytest.fixture
def locked_site(make_vault, tmp_path, monkeypatch):
    monkeypatch.setenv("COACHGEN_PASSWORD_ADA", PASSWORD)
    monkeypatch.setenv("COACHGEN_COACH_PASSWORD", "coach-" + PASSWORD)
    vault = make_vault(VAULT)
    out = tmp_path / "out"
    result = site.build(vault, out=out, today=dt.date(2026, 3, 20))
    assert not result.errors
    return vault, out, result


def envelopes(out, prefix):
    """Every encrypted file under prefix: {logical path: envelope}."""
    found = {}
    for rel, data in all_output(out).items():
        if not rel.startswith(prefix):
            continue
        logical = rel[len(prefix):].removesuffix(".enc")
        if rel.endswith(".html"):
            text = data.decode()
            start = text.index('id="sealed">') + len('id="sealed">')
            found[logical] = text[start:text.index("</script>", start)].encode()
        elif rel.endswith((".json", ".enc")):
            found[logical] = data
    return found


def lock_for(vault, site_id, password):
    salts = json.loads((vault / ".coachgen" / "salts.json").read_text())
    return Lock.derive(site_id, password, unb64(salts[site_id]))


def test_known_answer():
    """A fixed password, salt, path and text give these bytes, which the browser opens too
    (tests/test_browser_lock.py decrypts the same vector in Chromium)."""
    lock = Lock.derive("ada", "correct horse battery staple", bytes(range(16)))
    assert lock.seal("index.html", b"<p>Known answer</p>").decode() == KAT_ENVELOPE
    assert lock.open("index.html", KAT_ENVELOPE.encode()) == b"<p>Known answer</p>"


def test_E1_parameters(locked_site):
    """AES-256-GCM, 12-byte nonce, 16-byte tag, PBKDF2-SHA256 >= 600k, 16-byte salt, a version,
    and no nonce used twice in the whole build."""
    vault, out, _ = locked_site
    nonces = set()
    for prefix, site_id in (("clients/ada/", "ada"), ("coach/", passwords.COACH)):
        lock = lock_for(vault, site_id, PASSWORD if site_id == "ada" else "coach-" + PASSWORD)
        found = envelopes(out, prefix)
        assert found
        for logical, envelope in found.items():
            head, body = envelope.decode().split(".")
            header = json.loads(unb64(head))
            assert header == {"v": 1, "kdf": "pbkdf2-sha256", "iter": 600_000, "salt": header["salt"],
                              "client": site_id, "path": logical}
            assert len(unb64(header["salt"])) == 16 and header["iter"] >= 600_000
            blob = unb64(body)
            plaintext = lock.open(logical, envelope)
            assert len(blob) == 12 + len(plaintext) + 16
            assert blob[:12] not in nonces
            nonces.add(blob[:12])


def test_E2_wrong_password_tamper_swap_truncate(locked_site):
    vault, out, _ = locked_site
    found = envelopes(out, "clients/ada/")
    lock = lock_for(vault, "ada", PASSWORD)
    page = found["index.html"]
    assert b"CANARY-NAME" in lock.open("index.html", page)
    with pytest.raises(DecryptError):
        lock_for(vault, "ada", PASSWORD + "x").open("index.html", page)
    flipped = bytearray(page)
    flipped[-5] = ord("A") if flipped[-5] != ord("A") else ord("B")
    with pytest.raises(DecryptError):
        lock.open("index.html", bytes(flipped))
    with pytest.raises(DecryptError):  # a blob moved to another page
        lock.open("actions/index.html", page)
    with pytest.raises(DecryptError):  # a blob moved to another client
        Lock("bob", lock.salt, lock.master).open("index.html", page)
    with pytest.raises(DecryptError):
        lock.open("index.html", page[:-20])


def test_E3_no_plaintext_outside_the_envelope(locked_site):
    """No canary in any file's bytes or name; the open client's site is unaffected."""
    _, out, result = locked_site
    for rel, data in all_output(out).items():
        if rel.startswith("clients/bob/"):
            continue
        for canary in CANARIES:
            assert canary.encode() not in data, (canary, rel)
            assert canary not in rel, (canary, rel)
    assert not (out / "clients/ada/calendar.ics").exists()
    assert (out / "clients/bob/calendar.ics").exists()
    ada = next(c for c in result.model.clients if c.slug == "ada")
    assert [s.id for s in ada.sessions] == ["2026-03-01", "2026-03-08"]
    shell = (out / "clients/ada/index.html").read_text()
    assert "<title>Private</title>" in shell and "Ada" not in shell
    assert '<meta name="robots" content="noindex, nofollow">' in shell


def test_E4_secrets_hygiene(make_vault, tmp_path):
    """The password and the derived key appear in no output, log or file but the secrets file."""
    vault = make_vault(VAULT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COACHGEN_PASSWORD_ADA": PASSWORD}
    done = subprocess.run([sys.executable, "-m", "coachgen", "build", str(vault), "--out", str(tmp_path / "out"),
                           "--today", "2026-03-20"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    master = lock_for(vault, "ada", PASSWORD).master
    forbidden = [PASSWORD.encode(), master, master.hex().encode(), b64(master).encode()]
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for path, data in files.items():
        for secret in forbidden:
            assert secret not in data, path
    for secret in forbidden:
        assert secret.decode("latin-1") not in done.stdout + done.stderr


def test_E5_weak_reused_and_rotated_passwords(make_vault, tmp_path, monkeypatch):
    monkeypatch.setenv("COACHGEN_PASSWORD_ADA", "short")
    monkeypatch.setenv("COACHGEN_PASSWORD_BOB", "short")
    vault = make_vault(VAULT)
    problems = [str(p) for p in site.build(vault, write=False, today=dt.date(2026, 3, 20)).problems]
    assert (".coachgen/secrets.toml:1: warning: the password of client 'ada' is weak (shorter than 12 characters); "
            "`coachgen password` makes a strong one") in problems
    assert (".coachgen/secrets.toml:1: warning: client 'bob' has the same password as client 'ada'; "
            "give each site its own") in problems
    assert all("short" not in p.split("warning:")[1].replace("shorter", "") for p in problems)
    # rotation: after a new password, nothing made with the old key remains
    monkeypatch.delenv("COACHGEN_PASSWORD_BOB")
    monkeypatch.setenv("COACHGEN_PASSWORD_ADA", PASSWORD)
    out = tmp_path / "out"
    site.build(vault, out=out, today=dt.date(2026, 3, 20))
    old = lock_for(vault, "ada", PASSWORD)
    monkeypatch.setenv("COACHGEN_PASSWORD_ADA", PASSWORD + "-rotated")
    site.build(vault, out=out, today=dt.date(2026, 3, 20))
    for logical, envelope in envelopes(out, "clients/ada/").items():
        with pytest.raises(DecryptError):
            old.open(logical, envelope)
        assert lock_for(vault, "ada", PASSWORD + "-rotated").open(logical, envelope)


def test_rebuild_keeps_the_salt_and_writes_nothing(locked_site):
    """A rebuild neither logs the client out (same salt) nor changes unchanged files."""
    vault, out, _ = locked_site
    salts = (vault / ".coachgen/salts.json").read_text()
    again = site.build(vault, out=out, today=dt.date(2026, 3, 20))
    assert again.written == [] and (vault / ".coachgen/salts.json").read_text() == salts


def test_secrets_file_and_environment(make_vault, tmp_path, monkeypatch):
    vault = make_vault({**VAULT, ".coachgen/secrets.toml": f'[passwords]\nada = "{PASSWORD}"\n'
                                                           f'[coach]\npassword = "c-{PASSWORD}"\n'})
    store = passwords.Passwords(vault)
    assert store.get("ada") == PASSWORD and store.get(passwords.COACH) == "c-" + PASSWORD
    monkeypatch.setenv("COACHGEN_PASSWORD_ADA", "from-the-environment-wins")
    assert passwords.Passwords(vault).get("ada") == "from-the-environment-wins"
    assert passwords.env_name("jo-ann.smith") == "COACHGEN_PASSWORD_JO_ANN_SMITH"


def test_secrets_tracked_by_git_warns(make_vault):
    vault = make_vault({**VAULT, ".coachgen/secrets.toml": f'[passwords]\nada = "{PASSWORD}"\n'})
    subprocess.run(["git", "init", "-q"], cwd=vault, check=True)
    subprocess.run(["git", "add", "-f", ".coachgen/secrets.toml"], cwd=vault, check=True)
    problems = [str(p) for p in site.build(vault, write=False, today=dt.date(2026, 3, 20)).problems]
    assert any(p.startswith(".coachgen/secrets.toml:1: warning: is tracked by git") for p in problems)


def test_password_command_saves_a_strong_password_and_never_overwrites(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "coachgen", "password", *a, "--vault", str(tmp_path)],  # noqa: E731
                                    capture_output=True, text=True, env=env)
    first = run("ada", "--save")
    assert first.returncode == 0
    secret = first.stdout.strip()
    assert crypto.weakness(secret) is None and len(secret.split("-")) == 7
    again = run("ada", "--save")
    assert again.returncode != 0 and "already has a password" in again.stderr
    assert passwords.Passwords(tmp_path).get("ada") == secret
