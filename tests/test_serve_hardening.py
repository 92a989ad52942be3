"""serve.py hardening, one test per finding of the security review: DNS rebinding (F7); HEAD,
symlinks, hostile paths, echoed errors and idle connections (F14)."""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time

import pytest

from coachgen.dev import serve, watch
from coachgen.engine import site
from conftest import TODAY, write_files

BASE = {
    "clients/ada/client.md": "---\nname: Ada Lovelace\n---\n",
    "clients/ada/s/2026-01-05 Start.md": "First version.\n\n- [ ] a\n",
}


def _built(tmp_path):
    vault = write_files(tmp_path / "vault", BASE)
    out = tmp_path / "out"
    result = site.Builder(vault, out=out, today=TODAY).build()
    preview = serve.Preview(out)
    preview.end([], watch._sites(result))
    return preview, out


@pytest.fixture
def server(tmp_path):
    preview, out = _built(tmp_path)
    srv = serve.start(preview, port=0)
    yield srv.server_address[1], preview, out
    srv.shutdown()
    srv.server_close()


def request(port: int, method: str, path: str, host: str | None = "default", timeout: float = 5):
    """(status, headers, body) of one request; host=None sends no Host header at all."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    if host is not None:
        conn.putheader("Host", f"127.0.0.1:{port}" if host == "default" else host)
    conn.endheaders()
    response = conn.getresponse()
    headers = {k.lower(): v for k, v in response.getheaders()}
    # HEAD must not carry a body: read what the socket holds rather than trusting http.client.
    body = response.read() if method != "HEAD" else _drain(conn.sock)
    conn.close()
    return response.status, headers, body


def _drain(sock) -> bytes:
    if sock is None:
        return b""
    sock.settimeout(0.3)
    try:
        return sock.recv(65536)
    except (TimeoutError, OSError):
        return b""


def raw(port: int, data: bytes, timeout: float = 5) -> bytes:
    """The whole response to raw bytes sent on a fresh connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


# --- Finding 7: DNS rebinding -----------------------------------------------------------------

FOREIGN_HOSTS = ["attacker.example:8000", "attacker.example", "127.0.0.1.attacker.example", "localhost.evil",
                 "evil.localhost:1", "", "127.0.0.1:80@evil", "[::2]:8000", "0.0.0.0:8000", None]


@pytest.mark.parametrize("path", ["/", "/clients/ada/", serve.RELOAD_PATH, serve.EVENTS_PATH, "/clients/ada"])
def test_F7_requests_naming_a_foreign_host_are_refused(server, path):
    port, _, _ = server
    for host in FOREIGN_HOSTS:
        for method in ("GET", "HEAD"):
            status, headers, body = request(port, method, path, host=host, timeout=3)
            assert status in (403, 421), (method, host, status)
            assert b"Ada" not in body and b"EventSource" not in body and b"data:" not in body, (method, host)
            assert "location" not in headers, host


def test_F7_loopback_hosts_are_served(server):
    port, _, _ = server
    for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LocalHost", f"[::1]:{port}", "[::1]",
                 "127.9.8.7:1234"):
        status, _, body = request(port, "GET", "/clients/ada/", host=host)
        assert status == 200 and b"Ada" in body, host


def test_F7_host_check_allows_loopback_and_the_exact_host_given(tmp_path):
    allowed = serve.host_allowed
    for header in ("127.0.0.1", "127.0.0.1:8000", "127.1.2.3:9", "localhost", "localhost:8000", "[::1]", "[::1]:80"):
        assert allowed(header, "127.0.0.1"), header
    for header in (None, "", "attacker.example", "attacker.example:8000", "127.0.0.1:x", "127.0.0.1:", "::1",
                   "[::1", "localhost:8000:1", "127.0.0.256", "192.168.1.5:8000", "coach-laptop.local.evil"):
        assert not allowed(header, "127.0.0.1"), header
    # `--host coach-laptop.local` (or an address): that exact host is also accepted, nothing else.
    assert allowed("coach-laptop.local:8000", "coach-laptop.local")
    assert allowed("Coach-Laptop.Local", "coach-laptop.local")
    assert allowed("192.168.1.5:8000", "192.168.1.5")
    assert allowed("[fd00::5]:8000", "fd00::5")
    assert not allowed("attacker.example", "coach-laptop.local")
    assert not allowed("192.168.1.6:8000", "192.168.1.5")


# --- Finding 14: HEAD, symlinks, hostile paths, echoed errors, idle connections ----------------

def test_F14_head_goes_through_the_same_checks_as_get(server, tmp_path):
    port, _, out = server
    (tmp_path / "secret.txt").write_text("outside")
    (out / ".hidden").mkdir()
    (out / ".hidden/x").write_text("hidden")
    (out / ".coachgen").mkdir(exist_ok=True)
    (out / ".coachgen/secrets.toml").write_text("key = 'x'")
    os.symlink("/etc/passwd", out / "clients/ada/passwd")
    os.symlink(tmp_path / "secret.txt", out / "clients/ada/secret.txt")
    os.symlink(out / ".coachgen/secrets.toml", out / "clients/ada/settings.toml")  # inside, but hidden
    os.symlink(tmp_path, out / "clients/ada/up")  # a directory outside
    assert not (out / "clients/index.html").exists()
    refused = ["/.hidden/x", "/clients/ada/passwd", "/.coachgen/secrets.toml", "/clients/", "/clients",
               "/clients/ada/secret.txt", "/clients/ada/settings.toml", "/clients/ada/up/secret.txt",
               "/clients/ada/up/", "/clients/ada/up"]
    for path in refused:
        for method in ("GET", "HEAD"):
            status, headers, body = request(port, method, path)
            assert status == 404, (method, path, status)
            assert b"outside" not in body and b"root:" not in body and b"key =" not in body, (method, path)
            assert b"<a href" not in body and "location" not in headers, (method, path)


def test_F14_head_answers_like_get_without_a_body(server):
    port, _, _ = server
    for path in ("/", "/clients/ada/", "/clients/ada/assets/style.css", "/clients/ada", "/nope", serve.RELOAD_PATH):
        get_status, get_headers, get_body = request(port, "GET", path)
        head_status, head_headers, head_body = request(port, "HEAD", path)
        assert head_status == get_status, path
        for name in ("content-type", "content-length", "location", "cache-control"):
            assert head_headers.get(name) == get_headers.get(name), (path, name)
        assert head_body == b"", path
    status, headers, body = request(port, "HEAD", serve.EVENTS_PATH, timeout=3)  # a header, not a stream
    assert status == 200 and headers["content-type"] == "text/event-stream" and body == b""


HOSTILE = ["/%00", "/clients/ada/%00.html", "/clients/%00/", "/clients/ada/%01x", "/clients/%0d%0aX-Injected:%20yes/",
           "/clients/ada/%7f", "/" + "a" * 60000, "/clients/" + "%41" * 3000, "/" + "b/" * 1500]


def test_F14_control_characters_and_huge_paths_are_refused_quietly(server, capfd):
    port, _, _ = server
    for path in HOSTILE:
        for method in ("GET", "HEAD"):
            response = raw(port, f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            status = int(response.split(b" ", 2)[1])
            assert status in (400, 404, 414), (method, path[:40], status)
            assert path.encode() not in response and path[1:20].encode() not in response, (method, path[:40])
            assert b"X-Injected" not in response
    time.sleep(0.2)  # let a handler thread finish printing, if it does
    assert "Traceback" not in capfd.readouterr().err


def test_F14_errors_never_echo_what_the_client_sent(server, capfd):
    port, _, _ = server
    for line in (b"GET / HTTP/1.1<script>alert(1)</script>", b"FOO<script>alert(1)</script> / HTTP/1.1",
                 b"GET /<script>alert(1)</script> HTTP/1.1", b"GET /a b <script>alert(1)</script>"):
        response = raw(port, line + f"\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        assert response, line  # an answer (HTTP/0.9-style lines get one without a status line)
        assert b"script" not in response and b"alert" not in response, (line, response)
    assert "Traceback" not in capfd.readouterr().err


def test_a_directory_redirect_stays_on_this_site(server):
    port, _, out = server
    (out / "evil.example").mkdir()
    (out / "evil.example/index.html").write_text("<html><body>x</body></html>")
    status, headers, _ = request(port, "GET", "//evil.example")
    assert status == 404 or (status == 301 and headers["location"].startswith("/")
                             and not headers["location"].startswith("//"))


def test_F14_the_handler_has_an_idle_timeout():
    assert serve.Handler.timeout and 0 < serve.Handler.timeout <= 15


def test_F14_idle_and_slow_connections_are_closed_and_threads_do_not_pile_up(tmp_path):
    preview, _ = _built(tmp_path)
    srv = serve.start(preview, port=0, timeout=0.5)
    port = srv.server_address[1]
    try:
        before = threading.active_count()
        sockets = []
        for _ in range(50):  # the small listen backlog makes some of these connects wait a little
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        sockets[-1].sendall(b"GET /clients/ada/ HT")  # a partial request line, never finished
        for sock in sockets:  # each reads EOF (or a reset) once the server times it out
            sock.settimeout(3)  # six times the idle timeout
            try:
                rest = sock.recv(65536)
            except ConnectionResetError:
                rest = b""
            except TimeoutError:
                pytest.fail("the server kept an idle connection open")
            assert rest == b""
        for _ in range(100):
            if threading.active_count() <= before:
                break
            time.sleep(0.05)
        assert threading.active_count() <= before  # the threads are gone too
        for sock in sockets:
            sock.close()
        status, _, body = request(port, "GET", "/clients/ada/")  # still serving
        assert status == 200 and b"Ada" in body
    finally:
        srv.shutdown()
        srv.server_close()


def test_F14_the_event_stream_outlives_the_idle_timeout(tmp_path):
    preview, _ = _built(tmp_path)
    srv = serve.start(preview, port=0, timeout=0.5)
    port = srv.server_address[1]
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", serve.EVENTS_PATH)
        response = conn.getresponse()
        assert response.status == 200
        assert response.fp.readline().startswith(b"data: ")
        # Quiet for three times the timeout: keep-alive comments flow, the stream stays open.
        deadline, comments = time.monotonic() + 1.5, 0
        while time.monotonic() < deadline:
            line = response.fp.readline()
            assert line != b"", "the stream was closed"
            comments += line.startswith(b":")
        assert comments >= 2
        preview.begin()
        preview.end(["broken"], preview.sites)
        for _ in range(20):
            line = response.fp.readline()
            if line.startswith(b"data: "):
                assert b'"version": 2' in line and b"broken" in line
                break
        else:
            pytest.fail("no event after the build")
        conn.close()
    finally:
        srv.shutdown()
        srv.server_close()
