"""Publishing, documented and tested (issue 12): the GitHub Actions workflow that
docs/publishing.md ships as docs/examples/publish.yml, its build step run as CI would run
it; the recipe for copying one client's folder by hand; and a client's address that keeps
every letter of their name (finding 12.8)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import EXAMPLE, ROOT, all_output

WORKFLOW = ROOT / "docs" / "examples" / "publish.yml"
GUIDE = ROOT / "docs" / "publishing.md"

# The example vault's sites, and the secrets that stand in for the repository's in these tests.
SECRETS = {
    "COACHGEN_COACH_PASSWORD": "harbor-violet-canyon-maple-orbit-thistle-pine",
    "COACHGEN_PASSWORD_JOAQUIN_ORTEGA": "lantern-quartz-meadow-falcon-ribbon-cedar-wave",
    "COACHGEN_PASSWORD_MAYA": "copper-willow-signal-ember-tundra-sparrow-lake",
    "COACHGEN_PASSWORD_SAMIRA": "glacier-tulip-anchor-velvet-prairie-comet-reed",
}
# Text from the example's notes and profiles that must not be readable in an encrypted site.
CANARIES = ["Joaquín Ortega", "Joaqu", "Maya Okafor", "Samira Haddad", "Helen Marsh", "Back to the why",
            "Seed story", "Rejection number one", "Northstar"]


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def build_step() -> dict:
    steps = [step for job in workflow()["jobs"].values() for step in job.get("steps", [])]
    found = [step for step in steps if step.get("id") == "build"]
    assert len(found) == 1, "the workflow has one step with `id: build`"
    return found[0]


@pytest.fixture
def coachgen_on_path(tmp_path) -> Path:
    """A `coachgen` command on the PATH that runs this working tree's code, as the
    workflow's install step puts the installed one there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "coachgen"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m coachgen "$@"\n')
    shim.chmod(0o755)
    return bin_dir


def vault_copy(where: Path, passwords: str = "required") -> Path:
    """The example vault as a coach's repository holds it (no build state, no output), with
    `passwords = "required"` as docs/publishing.md asks of a vault published from CI."""
    vault = shutil.copytree(EXAMPLE, where, ignore=shutil.ignore_patterns(".coachgen", "_site"))
    config = vault / "coachgen.toml"
    text = config.read_text(encoding="utf-8")
    assert 'passwords = "optional"' in text
    config.write_text(text.replace('passwords = "optional"', f'passwords = "{passwords}"'), encoding="utf-8")
    return vault


def run_build_step(vault: Path, bin_dir: Path, secrets: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the build step's `run:` as GitHub Actions runs a bash step
    (`bash --noprofile --norc -eo pipefail FILE`), with `secrets` in the environment."""
    step = build_step()
    script = vault.parent / "build-step.sh"
    script.write_text(step["run"], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHGEN_")}
    env.update(secrets)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    assert step.get("shell") == "bash"
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=vault, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_encrypted(site: Path) -> None:
    for path in site.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for canary in CANARIES:
                assert canary.encode("utf-8") not in data, f"{canary!r} in plain text in {path.relative_to(site)}"


# ---------------------------------------------------------------- the workflow file


def test_12_publishing_the_workflow_builds_with_secrets_and_deploys_pages():
    flow = workflow()
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "push" in on and "workflow_dispatch" in on
    assert flow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    steps = flow["jobs"]["build"]["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert any(u.startswith("actions/setup-python@") for u in uses)
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_site"
    assert uses.index(upload["uses"]) > steps.index(build_step())  # published only after a build that passed
    deploy = flow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert any(step.get("uses", "").startswith("actions/deploy-pages@") for step in deploy["steps"])
    install = next(step for step in steps if "pip install" in step.get("run", ""))
    assert "COACHGEN_FROM" in install["run"] and "COACHGEN_FROM" in flow["env"]
    # Every password comes from the repository's secrets, under the name coachgen reads.
    env = build_step()["env"]
    assert "COACHGEN_COACH_PASSWORD" in env and any(k.startswith("COACHGEN_PASSWORD_") for k in env)
    for name, value in env.items():
        assert re.fullmatch(r"\$\{\{\s*secrets\." + re.escape(name) + r"\s*\}\}", value), name
    assert "coachgen build" in build_step()["run"]


def test_12_publishing_the_guide_ships_this_workflow_and_says_why_it_fails():
    guide = GUIDE.read_text(encoding="utf-8")
    assert "examples/publish.yml" in guide and ".github/workflows/" in guide
    for needed in ("COACHGEN_PASSWORD_", "COACHGEN_COACH_PASSWORD", "salts.json", "names.json", "secrets.toml",
                   "exit status 1", 'passwords = "required"', "rsync", "actions/cache"):
        assert needed in guide, needed


# ---------------------------------------------------------------- its build step, run


def test_12_publishing_the_build_step_builds_every_site_encrypted(tmp_path, coachgen_on_path):
    vault = vault_copy(tmp_path / "vault")
    done = run_build_step(vault, coachgen_on_path, SECRETS)
    assert done.returncode == 0, done.stdout + done.stderr
    site = vault / "_site"
    assert sorted(p.name for p in (site / "clients").iterdir()) == ["joaquin-ortega", "maya", "samira"]
    assert (site / "coach" / "index.html").is_file()
    assert_encrypted(site)
    for secret in SECRETS.values():
        assert secret not in done.stdout + done.stderr  # a CI log never shows a password
    salted = set(json.loads((vault / ".coachgen" / "salts.json").read_text()))
    assert salted == {"~coach", "joaquin-ortega", "maya", "samira"}


def test_12_publishing_a_missing_secret_fails_the_build_and_that_client_gets_no_site(tmp_path, coachgen_on_path):
    """A client added to the vault whose secret was never added to the workflow: coachgen
    refuses their site (exit status 1), so the upload and deploy steps never run."""
    vault = vault_copy(tmp_path / "vault")
    secrets = {k: v for k, v in SECRETS.items() if k != "COACHGEN_PASSWORD_SAMIRA"}
    done = run_build_step(vault, coachgen_on_path, secrets)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "clients/samira-haddad/client.md" in done.stderr and ": error:" in done.stderr
    site = vault / "_site"
    assert not (site / "clients" / "samira").exists()
    assert_encrypted(site)  # the others were built, encrypted, but the job stops here


def test_12_publishing_an_empty_secret_stops_before_anything_is_built(tmp_path, coachgen_on_path):
    """A secret that the workflow names but the repository lacks arrives as an empty
    variable: the step stops before building, even where passwords are optional."""
    vault = vault_copy(tmp_path / "vault", passwords="optional")
    done = run_build_step(vault, coachgen_on_path, {**SECRETS, "COACHGEN_PASSWORD_MAYA": ""})
    assert done.returncode == 1
    assert "COACHGEN_PASSWORD_MAYA" in done.stdout + done.stderr
    assert not (vault / "_site").exists()


def test_12_publishing_committed_salts_keep_clients_logged_in_across_ci_runs(tmp_path, coachgen_on_path):
    """Each CI run starts from a fresh checkout. With `.coachgen/salts.json`,
    `.coachgen/names.json` and `.coachgen/checkins.json` committed, two runs give
    byte-identical sites (a remembered key still opens them, a page's check-in token is the
    same); without them, every encrypted file changes."""
    first = vault_copy(tmp_path / "run1" / "vault")
    assert run_build_step(first, coachgen_on_path, SECRETS).returncode == 0
    second = vault_copy(tmp_path / "run2" / "vault")
    (second / ".coachgen").mkdir()
    for name in ("salts.json", "names.json", "checkins.json"):
        shutil.copy2(first / ".coachgen" / name, second / ".coachgen" / name)
    assert run_build_step(second, coachgen_on_path, SECRETS).returncode == 0
    assert all_output(first / "_site") == all_output(second / "_site")
    third = vault_copy(tmp_path / "run3" / "vault")  # nothing kept: new salts
    assert run_build_step(third, coachgen_on_path, SECRETS).returncode == 0
    maya = "clients/maya/index.html"
    assert all_output(third / "_site")[maya] != all_output(first / "_site")[maya]


def test_12_publishing_a_restored_cache_keeps_a_lost_secret_from_publishing_plain_text(tmp_path, coachgen_on_path):
    """The workflow's optional cache step brings back `.coachgen/` and `_site/`: then a client
    whose secret went missing is refused (their encrypted site stays), even where passwords
    are optional, just as on the coach's own computer."""
    workspace = tmp_path / "workspace" / "vault"  # a runner checks out at the same path every run
    first = vault_copy(workspace, passwords="optional")
    assert run_build_step(first, coachgen_on_path, SECRETS).returncode == 0
    for kept in (".coachgen", "_site"):  # the cache step saves these (as a tar: new files)
        shutil.copytree(first / kept, tmp_path / "cache" / kept, symlinks=True)
    shutil.rmtree(workspace)  # the next run: a fresh checkout, then the cache restored
    second = vault_copy(workspace, passwords="optional")
    for kept in (".coachgen", "_site"):
        shutil.copytree(tmp_path / "cache" / kept, second / kept, symlinks=True)
    before = all_output(second / "_site")
    secrets = {k: v for k, v in SECRETS.items() if k != "COACHGEN_PASSWORD_MAYA"}
    done = run_build_step(second, coachgen_on_path, secrets)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "clients/maya-okafor/client.md" in done.stderr
    after = all_output(second / "_site")
    assert {k: v for k, v in after.items() if k.startswith("clients/maya/")} == \
        {k: v for k, v in before.items() if k.startswith("clients/maya/")}
    assert_encrypted(second / "_site")


def test_12_publishing_the_gitignore_of_the_guide_commits_salts_but_never_passwords(tmp_path):
    guide = GUIDE.read_text(encoding="utf-8")
    block = re.search(r"```gitignore\n(.*?)```", guide, re.DOTALL)
    assert block, "docs/publishing.md has the vault's .gitignore in a ```gitignore block"
    repo = tmp_path / "vault"
    (repo / ".coachgen" / "cache").mkdir(parents=True)
    (repo / ".gitignore").write_text(block.group(1))
    for name in ("salts.json", "names.json", "checkins.json", "secrets.toml", "cache/notes.pickle", "manifest.json"):
        (repo / ".coachgen" / name).write_text("x")
    (repo / "_site").mkdir()
    (repo / "_site" / "index.html").write_text("x")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    listed = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=repo,
                            capture_output=True, text=True, check=True).stdout.split()
    assert sorted(listed) == [".coachgen/checkins.json", ".coachgen/names.json", ".coachgen/salts.json", ".gitignore"]


# ---------------------------------------------------------------- one client's folder, by hand


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append((name, value))


def test_12_publishing_one_client_s_folder_stands_alone(tmp_path):
    """The hand recipe: `clients/<slug>/` copied anywhere on its own still has every page,
    style, script and image its pages link to."""
    vault = vault_copy(tmp_path / "vault", passwords="optional")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("COACHGEN_")}, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "coachgen", "build", str(vault), "--today", "2026-03-20"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    host = tmp_path / "host" / "anything"
    shutil.copytree(vault / "_site" / "clients" / "maya", host)
    missing = []
    for page in host.rglob("*.html"):
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for attr, link in parser.links:
            if re.match(r"[a-z]+:", link) or link.startswith(("#", "//")):
                if attr == "src":  # a page may link to the web, never load from it
                    missing.append(f"{page.relative_to(host)} loads {link}")
                continue
            target = (page.parent / link.split("#")[0].split("?")[0]).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(host) or not target.exists():
                missing.append(f"{page.relative_to(host)} -> {link}")
    assert not missing, missing


# ---------------------------------------------------------------- 12.8 the client's address


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("COACHGEN_")}, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "coachgen", *args], cwd=cwd, capture_output=True, text=True, env=env)


def test_12_8_new_client_keeps_every_letter_in_the_folder_name(tmp_path):
    assert cli("init", "practice", cwd=tmp_path).returncode == 0
    vault = tmp_path / "practice"
    done = cli("new", "client", "Zoë Ngô-Đặng", cwd=vault)  # from inside the vault, as a coach runs it
    assert done.returncode == 0, done.stderr
    assert (vault / "clients" / "zoe-ngo-dang" / "client.md").is_file()
    assert "clients/zoe-ngo-dang/" in done.stderr  # the password saved for that address
    built = cli("build", cwd=vault)
    assert built.returncode == 0, built.stderr
    assert (vault / "_site" / "clients" / "zoe-ngo-dang" / "index.html").is_file()


@pytest.mark.parametrize("name, slug", [
    ("Zoë Ngô-Đặng", "zoe-ngo-dang"),
    ("Zoë Ærø-Smith", "zoe-aero-smith"),
    ("Ærø", "aero"),
    ("Łukasz Żółć", "lukasz-zolc"),
    ("Þóra Guðmundsdóttir", "thora-gudmundsdottir"),
    ("Straße", "strasse"),
    ("Юлия Петрова", "iuliia-petrova"),
    ("Αλέξης", "alexes"),
    ("王小明", "wang-xiao-ming"),
    ("Ada  Lovelace_2", "ada-lovelace-2"),
    ("  O'Brien & Co. ", "o-brien-co"),
    ("Ada &amp; Bea", "ada-amp-bea"),  # text is text: no HTML entity is decoded
    ("--", ""),
])
def test_12_8_slugify_transliterates_and_drops_no_letter(name, slug):
    from coachgen.slug import slugify

    assert slugify(name) == slug


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_12_8_a_slug_is_lower_case_letters_and_digits_joined_by_single_dashes(text):
    from coachgen.slug import slugify

    slug = slugify(text)
    assert re.fullmatch(r"([a-z0-9]+(-[a-z0-9]+)*)?", slug)
    assert slugify(slug) == slug  # a slug is its own slug: folder names stay as they are
