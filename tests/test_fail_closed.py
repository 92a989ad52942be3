"""Fail closed (issue 11, contract revision 3): where coachgen cannot be sure that a site
may be published in plain text, it refuses and says why. Each test plants canaries and
searches every byte of the output; the F-numbers are the findings of the review."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coachgen import cli
from coachgen.engine import site
from coachgen.privacy import crypto
from coachgen.privacy import rules as privacy
from conftest import TODAY, all_output, write_files

PASSWORD = "amber-bison-cedar-delta-ember-fable"


def build(vault: Path, out: Path, **kw) -> site.Result:
    return site.build(vault, out=out, today=TODAY, git=False, **kw)


def leaks(out: Path, *canaries: str) -> list[tuple[str, str]]:
    """(canary, file) for every canary found in plain text in any output file or path."""
    found = []
    for rel, data in all_output(out).items():
        for canary in canaries:
            if canary.encode() in data or canary in rel:
                found.append((canary, rel))
    return found


def errors(result: site.Result) -> list[str]:
    return [str(p) for p in result.errors]


ALICE = {
    "clients/alice/client.md": "---\nname: Alice Lovelace\n---\nCANARY-ALICE-PROFILE\n",
    "clients/alice/sessions/2026-01-05.md": "---\ninsights: [CANARY-ALICE-INSIGHT]\n---\nCANARY-ALICE-BODY\n",
    "clients/bob/client.md": "---\nname: Bob Babbage\npassword: none\n---\n",
    "clients/bob/sessions/2026-01-05.md": "Bob's shared note CANARY-BOB-SHARED\n",
}
ALICE_CANARIES = ("CANARY-ALICE-INSIGHT", "CANARY-ALICE-BODY", "Alice Lovelace")


# ---------------------------------------------------------------- F1: a mis-keyed password


@pytest.mark.parametrize("key", ['Alice', '"alice-lovelace"', '" alice"', '"ALICE"'])
@pytest.mark.parametrize("mode", ["optional", "required"])
def test_F1_miskeyed_password_publishes_nothing_in_plain_text(make_vault, tmp_path, key, mode):
    vault = make_vault({**ALICE, "coachgen.toml": f'passwords = "{mode}"\noverview_password = "none"\n',
                        ".coachgen/secrets.toml": f"[passwords]\n{key} = \"{PASSWORD}\"\n"})
    out = tmp_path / "out"
    result = build(vault, out)
    assert any(e.startswith(".coachgen/secrets.toml:2: error: [passwords] key") and "names no client" in e
               for e in errors(result)), errors(result)
    assert not leaks(out, *ALICE_CANARIES)
    assert not (out / "clients/alice").exists()
    # while a password names no one, no site without a password is written: not even Bob's
    assert not leaks(out, "CANARY-BOB-SHARED") and not (out / "clients/bob").exists()
    assert result.protections["alice"].status == privacy.WITHHELD


def test_F1_the_message_suggests_the_slug_it_probably_meant(make_vault, tmp_path):
    vault = make_vault({**ALICE, ".coachgen/secrets.toml": f'[passwords]\nAlice = "{PASSWORD}"\n'})
    messages = errors(build(vault, tmp_path / "out"))
    assert any('[passwords] key "Alice" names no client (did you mean "alice"?)' in m for m in messages), messages
    assert ".coachgen/secrets.toml:1: error: while a password names no client, no site without a password is " \
           "written or updated (held back: alice, bob, the overview)" in messages
    assert PASSWORD not in "".join(messages)


def test_F1_a_variable_that_names_no_client_is_an_error(make_vault, tmp_path, monkeypatch):
    monkeypatch.setenv("COACHGEN_PASSWORD_ALICE_LOVELACE", PASSWORD)
    vault = make_vault(ALICE)
    out = tmp_path / "out"
    result = build(vault, out)
    assert any(e.startswith("coachgen.toml:1: error: the environment variable COACHGEN_PASSWORD_ALICE_LOVELACE "
                            "names no client") for e in errors(result)), errors(result)
    assert not leaks(out, *ALICE_CANARIES, "CANARY-BOB-SHARED")


def test_F1_a_correct_key_after_the_slug_changed(make_vault, tmp_path):
    vault = make_vault({**ALICE, ".coachgen/secrets.toml": f'[passwords]\nalice = "{PASSWORD}"\n'})
    out = tmp_path / "out"
    first = build(vault, out)
    assert not first.errors and first.protections["alice"].encrypted
    assert not leaks(out, *ALICE_CANARIES)
    profile = vault / "clients/alice/client.md"
    profile.write_text(profile.read_text().replace("name: Alice Lovelace", "name: Alice Lovelace\nslug: ada"))
    second = build(vault, out)
    assert any("[passwords] key \"alice\" names no client" in e for e in errors(second)), errors(second)
    assert not leaks(out, *ALICE_CANARIES)
    assert second.protections["ada"].status == privacy.WITHHELD


def test_F1_through_the_command_exit_status_1(make_vault, tmp_path, monkeypatch):
    vault = make_vault({**ALICE, ".coachgen/secrets.toml": f'[passwords]\nAlice = "{PASSWORD}"\n'})
    monkeypatch.chdir(vault)
    done = CliRunner().invoke(cli.main, ["build", "--today", "2026-03-20", "--no-git"])
    assert done.exit_code == 1
    assert ".coachgen/secrets.toml:2: error:" in done.output and PASSWORD not in done.output
    assert not leaks(vault / "_site", *ALICE_CANARIES)


# ---------------------------------------------------------------- F2: a copied client folder


def test_F2_a_copied_folder_on_the_same_slug_takes_over_nothing(make_vault, tmp_path):
    files = {
        "clients/ada-lovelace/client.md": "---\nname: Ada Lovelace\nslug: ada\n---\n",
        "clients/ada-lovelace/sessions/2026-01-05.md": "CANARY-LOVELACE-NOTE\n",
        "clients/bob/client.md": "---\nname: Bob\npassword: none\n---\n",
        ".coachgen/secrets.toml": f'[passwords]\nada = "{PASSWORD}"\n',
    }
    vault = make_vault(files)
    out = tmp_path / "out"
    assert not build(vault, out).errors
    before = {k: v for k, v in all_output(out).items() if k.startswith("clients/ada/")}
    assert before
    # the coach copies the folder for a new client and changes only the name
    shutil.copytree(vault / "clients/ada-lovelace", vault / "clients/ada-king")
    (vault / "clients/ada-king/client.md").write_text("---\nname: Ada King\nslug: ada\n---\n")
    (vault / "clients/ada-king/sessions/2026-01-05.md").write_text("CANARY-KING-NOTE\n")
    result = build(vault, out)
    clash = [e for e in errors(result) if "two clients on slug 'ada'" in e]
    assert {e.split(":")[0] for e in clash} == {"clients/ada-lovelace/client.md", "clients/ada-king/client.md"}
    after = {k: v for k, v in all_output(out).items() if k.startswith("clients/ada/")}
    assert after == before  # what was built there stays exactly as it was
    lock = crypto.Lock.derive("ada", PASSWORD, crypto.unb64(
        __import__("json").loads((vault / ".coachgen/salts.json").read_text())["ada"]))
    page = after["clients/ada/index.html"].decode()
    sealed = page[page.index('id="sealed">') + 12: page.index("</script>", page.index('id="sealed">'))]
    assert b"Ada King" not in lock.open("index.html", sealed.encode())
    assert not leaks(out, "CANARY-KING-NOTE", "Ada King")
    assert (out / "clients/bob/index.html").is_file()  # the rest of the vault is still built


# ---------------------------------------------------------------- F3: client: matches exactly


def test_F3_a_client_reference_that_fits_two_clients_is_refused(make_vault, tmp_path):
    vault = make_vault({
        "clients/jordan/client.md": "---\nname: Jordan Smith\n---\n",
        "clients/jl/client.md": "---\nname: Jordan\n---\n",
        "clients/sam-a/client.md": "---\nname: Sam\n---\n",
        "clients/sam-b/client.md": "---\nname: Sam\n---\n",
        "inbox/2026-01-05 jordan.md": "---\nclient: jordan\n---\nCANARY-JORDAN\n",
        "inbox/2026-01-06 sam.md": "---\nclient: Sam\n---\nCANARY-SAM\n",
        "inbox/2026-01-07 smith.md": "---\nclient: Jordan Smith\n---\nCANARY-SMITH-OK\n",
        "inbox/2026-01-08 prefix.md": "---\nclient: Jord\n---\nCANARY-PREFIX\n",
    })
    out = tmp_path / "out"
    result = build(vault, out)
    problems = errors(result)
    assert "inbox/2026-01-05 jordan.md:2: error: 'client' fits more than one client (clients/jl, clients/jordan); " \
           "write the folder name of the one you mean" in problems
    assert any(p.startswith("inbox/2026-01-06 sam.md:2: error: 'client' fits more than one client") for p in problems)
    assert "inbox/2026-01-08 prefix.md:2: error: 'client' names no client of this vault" in problems
    assert not leaks(out, "CANARY-JORDAN", "CANARY-SAM", "CANARY-PREFIX")
    assert leaks(out, "CANARY-SMITH-OK")
    assert all(f.startswith("clients/jordan/") for _, f in leaks(out, "CANARY-SMITH-OK"))


# ---------------------------------------------------------------- the default: passwords required


def test_passwords_are_required_by_default(make_vault, tmp_path):
    vault = make_vault(ALICE, passwords_optional=False)
    out = tmp_path / "out"
    result = build(vault, out)
    assert ("clients/alice/client.md:1: error: client 'alice' has no password, and this vault requires one: run "
            "`coachgen password alice --save`, or write 'password: none' in its client.md to publish it without one"
            in errors(result))
    assert any(e.startswith("coachgen.toml:1: error: the coach's overview has no password") for e in errors(result))
    assert not leaks(out, *ALICE_CANARIES) and not (out / "coach").exists()
    assert leaks(out, "CANARY-BOB-SHARED")  # `password: none`: Bob's site, by the coach's choice
    assert result.protections["bob"].status == privacy.OPEN_BY_CHOICE


def test_the_fix_the_error_names_works(make_vault, tmp_path, monkeypatch):
    vault = make_vault(ALICE, passwords_optional=False)
    monkeypatch.chdir(vault)
    runner = CliRunner()
    assert runner.invoke(cli.main, ["password", "alice", "--save"]).exit_code == 0
    (vault / "coachgen.toml").write_text('overview_password = "none"\n')
    done = runner.invoke(cli.main, ["build", "--today", "2026-03-20", "--no-git"])
    assert done.exit_code == 0, done.output
    assert not leaks(vault / "_site", *ALICE_CANARIES)
    assert (vault / "_site/clients/alice/assets/lock.js").is_file() and (vault / "_site/coach/index.html").is_file()


def test_a_password_written_in_client_md_is_refused(make_vault, tmp_path):
    vault = make_vault({**ALICE,
                        "clients/alice/client.md": "---\nname: Alice Lovelace\npassword: hunter2-CANARY\n---\n"})
    out = tmp_path / "out"
    result = build(vault, out)
    assert any(e.startswith("clients/alice/client.md:3: error: 'password' in client.md may only be 'none'")
               for e in errors(result))
    assert not leaks(out, *ALICE_CANARIES, "hunter2-CANARY")
    assert "hunter2" not in "".join(errors(result))


def test_an_overview_without_a_password_lists_no_protected_client(make_vault, tmp_path):
    vault = make_vault({**ALICE, ".coachgen/secrets.toml": f'[passwords]\nalice = "{PASSWORD}"\n',
                        "clients/alice/sessions/2026-01-05.md": "- [ ] CANARY-ALICE-ACTION 📅 2026-01-06\n"})
    out = tmp_path / "out"
    build(vault, out)
    overview = (out / "coach/index.html").read_text()
    assert "Bob Babbage" in overview and "Alice" not in overview and "1 client with a password is not shown" in overview
    assert not leaks(out, "CANARY-ALICE-ACTION")


# ---------------------------------------------------------------- intent is remembered


def test_a_site_that_loses_its_password_is_not_rebuilt_in_plain_text(make_vault, tmp_path, monkeypatch):
    vault = make_vault({**ALICE, ".coachgen/secrets.toml": f'[passwords]\nalice = "{PASSWORD}"\n'
                                                           f'[coach]\npassword = "c-{PASSWORD}"\n'})
    out = vault / "_site"  # where `check` looks, as `build` writes it by default
    assert not build(vault, out).errors
    before = all_output(out)
    (vault / ".coachgen/secrets.toml").write_text("")  # the coach tidies the secrets file, or CI lost its secret
    (vault / "clients/alice/sessions/2026-01-06.md").write_text("CANARY-ALICE-LATER\n")
    result = build(vault, out)
    messages = errors(result)
    assert any(e.startswith("clients/alice/client.md:1: error: client 'alice' was published with a password and has "
                            "none now") for e in messages), messages
    assert any(e.startswith("coachgen.toml:1: error: the coach's overview was published with a password")
               for e in messages)
    after = all_output(out)
    assert {k: v for k, v in after.items() if k.startswith(("clients/alice/", "coach/"))} == \
           {k: v for k, v in before.items() if k.startswith(("clients/alice/", "coach/"))}
    assert not leaks(out, *ALICE_CANARIES, "CANARY-ALICE-LATER")
    # `check` says the same, and lists each site's protection
    monkeypatch.chdir(vault)
    done = CliRunner().invoke(cli.main, ["check", "--today", "2026-03-20"])
    assert done.exit_code == 1 and "was published with a password and has none now" in done.output
    assert "clients/alice/" in done.output and "withheld: lost its password" in done.output
    assert "no password, by choice" in done.output


# ---------------------------------------------------------------- F12: same size and modification time


def test_F12_a_note_changed_with_the_same_size_and_time_is_read_again(make_vault, tmp_path):
    note = "clients/bob/sessions/2026-01-06.md"
    vault = make_vault({**ALICE, note: "---\nprivate: false\n---\nCANARY-MADE-PRIVATE\n"})
    path = vault / note
    old = path.stat().st_mtime_ns - 3_600_000_000_000  # an hour ago: past any "recently changed" doubt
    os.utime(path, ns=(old, old))
    out = tmp_path / "out"
    build(vault, out)
    assert leaks(out, "CANARY-MADE-PRIVATE")
    path.write_text("---\nprivate: true \n---\nCANARY-MADE-PRIVATE\n")  # same size
    os.utime(path, ns=(old, old))  # as `cp -p`, `touch -r` and sync tools leave it
    build(vault, out)
    assert not leaks(out, "CANARY-MADE-PRIVATE")


# ---------------------------------------------------------------- F16: attachment names


def test_F16_encrypted_attachment_names_confirm_no_guess(make_vault, tmp_path):
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108020000009077"
                        "53de0000000c4944415408d763f8ffff3f0005fe02fea7d6a4b00000000049454e44ae426082")
    vault = make_vault({**ALICE, ".coachgen/secrets.toml": f'[passwords]\nalice = "{PASSWORD}"\n',
                        "clients/alice/attachments/doc.png": png,
                        "clients/alice/sessions/2026-01-05.md": "![[doc.png]]\n"})
    out = tmp_path / "out"
    build(vault, out)
    names = sorted(p.name for p in (out / "clients/alice/assets/files").iterdir())
    guess = hashlib.sha256(b"clients/alice/attachments/doc.png").hexdigest()[:16]
    assert len(names) == 1 and not names[0].startswith(guess)
    build(vault, out)  # the name is stable: a rebuild neither renames nor rewrites it
    assert sorted(p.name for p in (out / "clients/alice/assets/files").iterdir()) == names
    assert (vault / ".coachgen/names.json").is_file()


# ---------------------------------------------------------------- F17: base_url


@pytest.mark.parametrize("value", ['javascript:alert(1)//', 'https://x.example\\r\\nATTACH:https://evil.example/a',
                                   'data:text/html,hi', 'https://x.example/ y'])
def test_F17_base_url_must_be_a_web_address(make_vault, tmp_path, value):
    vault = make_vault({**ALICE, "coachgen.toml": f'base_url = "{value}"\n',
                        "clients/bob/sessions/2026-01-05.md": "- [ ] Call 📅 2026-04-01\n"})
    out = tmp_path / "out"
    result = build(vault, out)
    assert "coachgen.toml:1: error: 'base_url' must be a web address like \"https://coaching.example.org\" " \
           "(http or https, no spaces)" in errors(result)
    calendar = (out / "clients/bob/calendar.ics").read_bytes()
    assert b"javascript" not in calendar and b"ATTACH" not in calendar and b"data:" not in calendar
    assert b"URL" not in calendar


def test_F17_a_plain_base_url_is_used(make_vault, tmp_path):
    vault = make_vault({**ALICE, "coachgen.toml": 'base_url = "https://coaching.example.org/sites"\n',
                        "clients/bob/sessions/2026-01-05.md": "- [ ] Call 📅 2026-04-01\n"})
    out = tmp_path / "out"
    assert not build(vault, out).errors
    calendar = (out / "clients/bob/calendar.ics").read_bytes()
    assert b"URL:https://coaching.example.org/sites/clients/bob/actions/" in calendar


# ---------------------------------------------------------------- property: random slips


def _fast_master_key(password, salt, iterations=crypto.ITERATIONS):
    """PBKDF2 at 600,000 rounds per site and build would make the property test crawl; the
    property is about what is encrypted at all, not how hard the key is to guess."""
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 1000, dklen=32)


@st.composite
def slipping_vaults(draw):
    """A vault of two or three clients, where the coach slips: password keys in the wrong
    case or form, a client folder copied onto another's slug, `private` in another case,
    comments and private callouts in odd places. Returns (files, canaries that must never be
    in plain text)."""
    mode = draw(st.sampled_from(["optional", "required"]))
    files = {"coachgen.toml": f'passwords = "{mode}"\n' + draw(st.sampled_from(["", 'overview_password = "none"\n']))}
    secrets, protected = [], []
    folders = ["ada-lovelace", "bob-babbage", "cy-young"][: draw(st.integers(2, 3))]
    for i, folder in enumerate(folders):
        slug = draw(st.sampled_from([folder, folder.split("-")[0]]))
        name = folder.replace("-", " ").title()
        opt_out = draw(st.booleans())
        profile = f"---\nname: {name}\n" + (f"slug: {slug}\n" if slug != folder else "") + \
                  ("password: none\n" if opt_out else "") + "---\n"
        files[f"clients/{folder}/client.md"] = profile + f"CANARY-{i}-PROFILE\n"
        wants_password = draw(st.booleans())
        if wants_password:
            key = draw(st.sampled_from([slug, slug.upper(), slug.title(), f" {slug}", folder, name]))
            secrets.append(f'{__import__("json").dumps(key)} = "{PASSWORD}-{i}"')
        shared = f"CANARY-{i}-SHARED"
        if wants_password:
            protected.append(shared)  # the coach meant this client's site to have a password
        private_key = draw(st.sampled_from(["private", "Private", "PRIVATE"]))
        comment = draw(st.sampled_from([
            "%% CANARY-{i}-COMMENT %%", "<!-- CANARY-{i}-COMMENT -->",
            "- step\n  ```\n  code\n\n%% CANARY-{i}-COMMENT %%",
            "> [!private]\n> CANARY-{i}-COMMENT", "> [!Coach]- note\n> CANARY-{i}-COMMENT",
            "%%\nCANARY-{i}-COMMENT\n%%",
        ])).format(i=i)
        files[f"clients/{folder}/sessions/2026-01-05.md"] = f"{shared}\n\n{comment}\n"
        files[f"clients/{folder}/sessions/2026-01-06.md"] = f"---\n{private_key}: true\n---\nCANARY-{i}-PRIVATE\n"
        protected += [f"CANARY-{i}-PROFILE", f"CANARY-{i}-COMMENT", f"CANARY-{i}-PRIVATE"]
        if draw(st.booleans()):  # a copy of this client's folder, for a new client, on the same slug
            files[f"clients/{folder}-copy/client.md"] = f"---\nname: Copy {i}\nslug: {slug}\n---\n"
            files[f"clients/{folder}-copy/sessions/2026-01-05.md"] = f"CANARY-{i}-COPY\n"
            if wants_password:
                protected.append(f"CANARY-{i}-COPY")
    if secrets:
        files[".coachgen/secrets.toml"] = "[passwords]\n" + "\n".join(secrets) + "\n"
    return files, protected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slipping_vaults())
def test_property_no_slip_publishes_a_protected_or_private_canary(tmp_path_factory, vault_and_canaries):
    files, protected = vault_and_canaries
    root = tmp_path_factory.mktemp("slip")
    vault = write_files(root / "vault", files, passwords_optional=False)
    out = root / "out"
    with mock.patch.object(crypto, "master_key", _fast_master_key):
        build(vault, out)
    assert not leaks(out, *protected), leaks(out, *protected)


# ---------------------------------------------------------------- F8, the safety net: a fault costs one site


@pytest.mark.parametrize("stage", ["plan", "render"])
def test_F8_a_fault_in_one_client_costs_that_site_only(make_vault, tmp_path, monkeypatch, stage):
    vault = make_vault(ALICE | {"clients/alice/client.md": "---\nname: Alice Lovelace\npassword: none\n---\n"})
    out = tmp_path / "out"
    assert not build(vault, out).errors
    before = {k: v for k, v in all_output(out).items() if k.startswith("clients/alice/")}
    (vault / "clients/alice/sessions/2026-01-05.md").write_text("CANARY-ALICE-NEW\n")
    (vault / "clients/bob/sessions/2026-01-05.md").write_text("CANARY-BOB-NEW\n")
    from coachgen.plan import pages
    from coachgen.render import templates as render

    if stage == "plan":
        real = pages.client_pages

        def client_pages(client, *args, **kw):
            if client.slug == "alice":
                raise OverflowError("a value no one foresaw")
            return real(client, *args, **kw)

        monkeypatch.setattr(pages, "client_pages", client_pages)
    else:
        real = render.render

        def faulty(page, *args, **kw):
            if page.path == "clients/alice/sessions/2026-01-05/index.html":
                raise OverflowError("a value no one foresaw")
            return real(page, *args, **kw)

        monkeypatch.setattr(render, "render", faulty)
    result = build(vault, out)
    assert "clients/alice/client.md:1: error: coachgen could not build this client's site (OverflowError): what " \
           "was built before stays as it was, and the other sites were built. This is a fault in coachgen; " \
           "please report it" in errors(result)
    assert {k: v for k, v in all_output(out).items() if k.startswith("clients/alice/")} == before
    assert leaks(out, "CANARY-BOB-NEW") and not leaks(out, "CANARY-ALICE-NEW")
    monkeypatch.undo()
    assert not build(vault, out).errors and leaks(out, "CANARY-ALICE-NEW")  # fixed: the next build catches up
