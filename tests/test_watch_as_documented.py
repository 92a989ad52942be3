"""`coachgen watch` run the way the README runs it: the real CLI in a subprocess, given a
relative folder or no folder at all, on the default port or one given with --port."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import EXAMPLE, ROOT, write_files

PRACTICE = {
    "clients/ada-lovelace/client.md": "---\nname: Ada Lovelace\ngoals:\n  - Write the first program\n---\n",
    "clients/ada-lovelace/sessions/2026-03-16.md": "---\ninsights:\n  - The engine weaves algebra.\n---\nFirst call.\n",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def occupied(port: int):
    """Something else listening on `port` (if something already is, it stays busy all the same)."""
    sock = socket.socket()
    try:
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
        yield port
    finally:
        sock.close()


class Watch:
    """`coachgen watch ARGS` started in `cwd`; its standard error goes to a file we can read."""

    def __init__(self, cwd: Path, *args: str):
        self.log = cwd / f"watch-{time.monotonic_ns()}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"}  # a hang shows where
        with open(self.log, "wb") as log:
            # as from a terminal: a test run started in the background (`pytest &`) ignores SIGINT,
            # and a child would inherit that and never see the Ctrl-C
            self.proc = subprocess.Popen([sys.executable, "-m", "coachgen", "watch", *args], cwd=cwd, env=env,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def get(self, url: str) -> str | None:
        """The page's text, or None while nothing serves it."""
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return None

    def first_build(self, url: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"coachgen watch stopped:\n{self.output()}"
            page = self.get(url)
            if page is not None:
                return page
            time.sleep(0.1)
        raise AssertionError(f"no first build at {url}:\n{self.output()}")

    def stop(self) -> int:
        """Ctrl-C, as the coach stops it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)  # the fault handler writes every thread's stack to the log
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            raise AssertionError(f"coachgen watch did not stop on Ctrl-C:\n{self.output()}") from None


def seen_within(watch: Watch, url: str, text: str, seconds: float = 5.0) -> float | None:
    """Seconds until the served page shows `text`, polled every 0.1 s; None if it never does."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        page = watch.get(url)
        if page is not None and text in page:
            return time.monotonic() - start
        time.sleep(0.1)
    return None


# ---------------------------------------------------------------- 12.1: a save rebuilds at once


def example_copy(parent: Path) -> Path:
    vault = parent / "vault_example"
    shutil.copytree(EXAMPLE, vault, ignore=shutil.ignore_patterns("_site", ".coachgen"))
    return vault


@pytest.mark.parametrize("how", ["coachgen watch vault_example", "cd practice && coachgen watch",
                                 "coachgen watch linked"])
def test_12_1_a_save_reaches_the_page_at_once_with_a_relative_folder(tmp_path, how):
    """A save shows in the served page within seconds (not at the 60-second reconcile) when
    the vault is given relatively, not at all (the current folder), or through a symlink."""
    port = str(free_port())
    if how == "coachgen watch vault_example":
        vault = example_copy(tmp_path)
        note = vault / "clients/maya-okafor/sessions/2026-03-16 Fifty-two hours.md"
        old, new = "kinder than", "edited, kinder than"
        watch = Watch(tmp_path, "vault_example", "--today", "2026-03-20", "--port", port)
        slug = "maya"
    else:
        vault = write_files(tmp_path / "practice", PRACTICE)
        note = vault / "clients/ada-lovelace/sessions/2026-03-16.md"
        old, new = "weaves algebra", "weaves edited algebra"
        if how == "cd practice && coachgen watch":
            watch = Watch(vault, "--port", port)
        else:
            (tmp_path / "linked").symlink_to("practice", target_is_directory=True)
            watch = Watch(tmp_path, "linked", "--port", port)
        slug = "ada-lovelace"
    url = f"http://127.0.0.1:{port}/clients/{slug}/"
    try:
        first = watch.first_build(url)
        assert old in first and new not in first
        note.write_text(note.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
        took = seen_within(watch, url, new)
        assert took is not None, f"the save did not reach {url} within 5 s:\n{watch.output()}"
        time.sleep(1.0)  # time for the log's own lines to set off a build, if they could
    finally:
        status = watch.stop()
    assert status == 0, watch.output()
    # "cd practice && coachgen watch > log" keeps its log in the vault: a change that makes no
    # page is not reported, so the log's own lines never set off another build
    assert f"{watch.log.name} ->" not in watch.output()
    assert "Traceback" not in watch.output()


# ---------------------------------------------------------------- 12.7: a busy port


def test_12_7_a_busy_default_port_serves_on_the_next_free_one(tmp_path):
    """Without --port, a busy 8000 is no error: the next free port is taken, said in one line,
    and the URL printed for the coach to open is the one really served."""
    vault = write_files(tmp_path / "practice", PRACTICE)
    with occupied(8000):
        watch = Watch(vault)
        try:
            deadline = time.monotonic() + 60
            while "Serving " not in watch.output() and time.monotonic() < deadline:
                assert watch.proc.poll() is None, f"coachgen watch stopped:\n{watch.output()}"
                time.sleep(0.1)
            lines = watch.output().splitlines()
            busy = [line for line in lines if line.startswith("port 8000 is busy; serving on http://127.0.0.1:")]
            assert len(busy) == 1, lines
            url = busy[0].split("serving on ", 1)[1].split()[0]
            port = int(url.rsplit(":", 1)[1].strip("/"))
            assert port != 8000 and busy[0] == f"port 8000 is busy; serving on http://127.0.0.1:{port}/ instead"
            serving = [line for line in lines if line.startswith("Serving ")]
            assert len(serving) == 1 and serving[0].endswith(f" at {url} (Ctrl-C to stop)"), lines
            assert "Ada Lovelace" in watch.first_build(url + "clients/ada-lovelace/")
        finally:
            status = watch.stop()
    assert status == 0, watch.output()
    assert "Traceback" not in watch.output()


@pytest.mark.parametrize("given", ["a free port", "8000, the default"])
def test_12_7_a_busy_port_given_with_port_is_a_one_line_error(tmp_path, given):
    """`--port N` is what the coach asked for: when it is busy, say so in one line and exit 1,
    with no traceback and no other port; also when N is the default, given explicitly."""
    vault = write_files(tmp_path / "practice", PRACTICE)
    port = free_port() if given == "a free port" else 8000
    with occupied(port):
        watch = Watch(vault, "--port", str(port))
        try:
            status = watch.proc.wait(60)
        finally:
            if watch.proc.poll() is None:
                watch.stop()
    assert status == 1, watch.output()
    assert watch.output().strip() == (f"coachgen: error: port {port} is busy: stop what uses it, "
                                      "or pick another with --port")
