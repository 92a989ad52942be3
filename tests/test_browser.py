"""The built example site in headless Chromium: charts draw, nothing overflows a phone, no errors,
no request leaves the client's own folder, the navigation works and every page says noindex.

Each page is loaded once per display mode (phone light, desktop light, phone dark); everything the
tests need is collected during that one visit and cached, so each test only asserts on the cache.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import EXAMPLE, TODAY

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
# (viewport, colour scheme): dark only on the phone, to keep the run short.
MODES = [("phone", "light"), ("desktop", "light"), ("phone", "dark"), ("desktop", "dark")]
MODE_IDS = [f"{v}-{s}" for v, s in MODES]
PHONE_MODES = [m for m in MODES if m[0] == "phone"]
CHART_TIMEOUT_MS = 5_000


# --- the pages, known at collection time --------------------------------------------------------


@dataclass(frozen=True)
class Page:
    kind: str  # coach | dashboard | session | actions | metrics
    path: str  # URL path from the site root, e.g. /clients/maya/actions/index.html
    scope: str  # the only folder this page may request from, e.g. /clients/maya/

    @property
    def id(self) -> str:
        return self.path.strip("/").removesuffix("/index.html").removeprefix("clients/")


def _pages() -> tuple[list[Page], list[str], str | None]:
    """Every page of the example site, from the model (no files written)."""
    try:
        from coachgen.engine import site

        result = site.build(EXAMPLE, today=TODAY, write=False)
        clients = result.model.clients
    except Exception as exc:  # reported by test_site_builds_for_the_browser, not a collection error
        return [], [], f"{type(exc).__name__}: {exc}"
    pages = [Page("coach", "/coach/index.html", "/coach/")]
    for client in clients:
        root = f"/clients/{client.slug}/"
        pages.append(Page("dashboard", root + "index.html", root))
        pages += [Page("session", root + s.url + ("" if s.url.endswith("/") else "/"), root) for s in client.sessions]
        pages.append(Page("actions", root + "actions/index.html", root))
        pages.append(Page("metrics", root + "metrics/index.html", root))
    return pages, [c.slug for c in clients], None


PAGES, SLUGS, MODEL_ERROR = _pages()
PAGE_IDS = [p.id for p in PAGES]


# --- build, serve, browse -----------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the built site and records (path, status) of every answer in server.log."""

    def log_message(self, format, *args):  # silence the default stderr logging
        pass

    def send_response(self, code, message=None):
        self.server.log.append((urlsplit(self.path).path, int(code)))
        super().send_response(code, message)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from coachgen.engine import site

    out = tmp_path_factory.mktemp("browser_site")
    result = site.build(EXAMPLE, out=out, today=TODAY)
    return out, result


@pytest.fixture(scope="module")
def server(built):
    out, _ = built
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(out)))
    httpd.log = []
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - a clear failure, never a skip
        pytest.fail(f"Playwright is not installed (pip install -e '.[test]'): {exc}", pytrace=False)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing: expected Debian's chromium at {CHROMIUM} (apt-get install chromium)",
                    pytrace=False)
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as exc:
            pytest.fail(f"could not launch {CHROMIUM}: {exc}", pytrace=False)
        yield b
        b.close()


@dataclass
class Visit:
    page: Page
    mode: tuple[str, str]
    requests: list[str] = field(default_factory=list)  # full URLs seen by the page
    served: list[tuple[str, int]] = field(default_factory=list)  # paths the server answered meanwhile
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    charts: dict | None = None
    chart_wait_error: str | None = None
    layout: dict | None = None
    robots: list[str | None] = field(default_factory=list)
    status: int | None = None


class Browsing:
    """One context and one tab per viewport, and a cache of visits.

    Reusing the tab lets Chromium reuse its compiled plotly.min.js (a fresh tab per visit costs
    about 2 s per chart page). Each visit ends on about:blank, so whatever the page would still have
    requested is cancelled rather than credited to the next page."""

    def __init__(self, browser, server):
        self.browser = browser
        self.server = server
        self.base = f"http://127.0.0.1:{server.server_port}"
        self.contexts: dict[str, object] = {}
        self.tabs: dict[str, object] = {}
        self.cache: dict[tuple[str, tuple[str, str]], Visit] = {}
        self.current: Visit | None = None
        self.inflight: set = set()

    def context(self, viewport: str):
        if viewport not in self.contexts:
            self.contexts[viewport] = self.browser.new_context(
                viewport=VIEWPORTS[viewport], color_scheme="light", service_workers="block")
        return self.contexts[viewport]

    def _record(self, kind: str, item) -> None:
        v = self.current
        if kind == "done":
            self.inflight.discard(item)
        elif v is None:
            return
        elif kind == "request":
            v.requests.append(item.url)
            self.inflight.add(item)
        elif kind == "console" and item.type == "error":
            v.console_errors.append(f"{item.text} @ {item.location.get('url', '')}")
        elif kind == "pageerror":
            v.page_errors.append(str(item))

    def tab(self, viewport: str):
        if viewport not in self.tabs:
            tab = self.context(viewport).new_page()
            tab.on("request", lambda r: self._record("request", r))
            tab.on("requestfinished", lambda r: self._record("done", r))
            tab.on("requestfailed", lambda r: self._record("done", r))
            tab.on("console", lambda m: self._record("console", m))
            tab.on("pageerror", lambda e: self._record("pageerror", e))
            self.tabs[viewport] = tab
        return self.tabs[viewport]

    def visit(self, page: Page, mode: tuple[str, str]) -> Visit:
        key = (page.path, mode)
        if key in self.cache:
            return self.cache[key]
        viewport, scheme = mode
        tab = self.tab(viewport)
        tab.emulate_media(color_scheme=scheme)
        v = Visit(page, mode)
        self.inflight.clear()
        start = len(self.server.log)
        self.current = v
        try:
            response = tab.goto(self.base + page.path, wait_until="load")
            v.status = response.status if response else None
            v.chart_wait_error = _wait_for_charts(tab)
            v.charts = tab.evaluate(CHARTS_JS)
            v.layout = tab.evaluate(LAYOUT_JS)
            robots = tab.locator('meta[name="robots"]')
            v.robots = [robots.nth(i).get_attribute("content") for i in range(robots.count())]
            self._settle(tab, v)
        finally:
            tab.goto("about:blank")
            self.current = None
            v.served = list(self.server.log[start:])
        self.cache[key] = v
        return v

    def _settle(self, tab, v: Visit, timeout: float = 3.0) -> None:
        """Wait until the declared icon has been requested (Chromium asks for it just after load;
        once it has, it does not fall back to /favicon.ico) and nothing is in flight. Cheaper than
        networkidle's fixed 500 ms of quiet."""
        icons = tab.evaluate("""() => [...document.querySelectorAll('link[rel~="icon"]')].map((l) => l.href)""")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (not icons or any(url in v.requests for url in icons)) and not self.inflight:
                return
            tab.wait_for_timeout(10)  # lets Playwright dispatch pending events: a poll, not a sleep

    def close(self):
        for ctx in self.contexts.values():
            ctx.close()


@pytest.fixture(scope="module")
def browsing(browser, server):
    b = Browsing(browser, server)
    yield b
    b.close()


# --- in-page probes -----------------------------------------------------------------------------

WAIT_CHARTS_JS = """() => {
  const data = document.getElementById("charts");
  if (!data) return true;
  const figs = JSON.parse(data.textContent);
  return Object.keys(figs).every((id) => {
    const el = document.getElementById(id);
    return el && el.querySelector(".main-svg") && el._fullLayout;
  });
}"""

CHARTS_JS = """() => {
  const data = document.getElementById("charts");
  if (!data) return null;
  const figs = JSON.parse(data.textContent);
  const out = {};
  for (const id of Object.keys(figs)) {
    const el = document.getElementById(id);
    out[id] = {
      expected: (figs[id].data || []).length,
      exists: !!el,
      svg: el ? el.querySelectorAll(".main-svg").length : 0,
      dataLength: el && Array.isArray(el.data) ? el.data.length : null,
      domTraces: el ? el.querySelectorAll(".scatterlayer .trace, .barlayer .trace").length : 0,
      width: el ? Math.round(el.getBoundingClientRect().width) : 0,
      height: el ? Math.round(el.getBoundingClientRect().height) : 0,
    };
  }
  return out;
}"""

LAYOUT_JS = """() => {
  const vw = window.innerWidth;
  const clipping = new Set(["auto", "scroll", "hidden", "clip"]);
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
      if (clipping.has(getComputedStyle(a).overflowX)) return true;
    }
    return false;
  };
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    const cls = typeof el.className === "string" ? el.className.trim() : "";
    if (cls) s += "." + cls.split(/\\s+/).join(".");
    const text = (el.textContent || "").trim().replace(/\\s+/g, " ");
    if (text) s += ` "${text.slice(0, 50)}${text.length > 50 ? "…" : ""}"`;
    const r = el.getBoundingClientRect();
    return `${s} (left ${Math.round(r.left)}, right ${Math.round(r.right)}, width ${Math.round(r.width)})`;
  };
  const wide = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > vw + 1 && !clipped(el)) wide.push(el);
  }
  const wideSet = new Set(wide);
  // text that spills out of a box that itself fits (an unbreakable word, nowrap, ...)
  const spills = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const parent = n.parentElement;
    if (!parent || wideSet.has(parent) || !n.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const r = range.getBoundingClientRect();
    if (r.right > vw + 1 && !clipped(n)) {
      spills.push(`text "${n.textContent.trim().slice(0, 50)}" overflows ${describe(parent)}`
                  + ` to right ${Math.round(r.right)}`);
    }
  }
  // report the outermost offenders only: their descendants overflow because they do
  const outer = wide.filter((el) => !wideSet.has(el.parentElement)).map(describe).concat(spills);
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: vw,
    offenders: outer.slice(0, 12),
    more: Math.max(0, outer.length - 12),
    total: wide.length + spills.length,
  };
}"""


def _wait_for_charts(tab) -> str | None:
    if tab.evaluate(WAIT_CHARTS_JS):
        return None
    try:
        tab.wait_for_function(WAIT_CHARTS_JS, timeout=CHART_TIMEOUT_MS)
    except Exception as exc:
        return f"charts not drawn within {CHART_TIMEOUT_MS} ms: {str(exc).splitlines()[0]}"
    return None


def _where(v: Visit) -> str:
    viewport, scheme = v.mode
    size = VIEWPORTS[viewport]
    return f"{v.page.path} at {size['width']}x{size['height']} {scheme}"


# --- the tests ----------------------------------------------------------------------------------


def test_site_builds_for_the_browser(built):
    assert MODEL_ERROR is None, f"the example vault's model could not be built at collection time: {MODEL_ERROR}"
    out, result = built
    assert not result.errors, result.errors
    assert PAGES and SLUGS == [c.slug for c in result.model.clients]
    for page in PAGES:
        file = out / page.path.lstrip("/")
        if page.path.endswith("/"):
            file = file / "index.html"
        assert file.is_file(), f"{page.path} was not written"


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_chart_draws(browsing, page, mode):
    v = browsing.visit(page, mode)
    assert v.status == 200, f"{_where(v)}: HTTP {v.status}"
    if page.kind in ("dashboard", "metrics"):
        assert v.charts, f"{_where(v)}: a {page.kind} page has no charts JSON"
    if not v.charts:
        return
    prefix = {"dashboard": "spark-", "metrics": "chart-"}.get(page.kind)
    problems = []
    for div, c in v.charts.items():
        if prefix and not div.startswith(prefix):
            problems.append(f"{div}: expected ids like {prefix}N on a {page.kind} page")
        if not c["exists"]:
            problems.append(f"{div}: no element with this id")
            continue
        if c["svg"] == 0:
            problems.append(f"{div}: no rendered .main-svg")
        if c["dataLength"] != c["expected"]:
            problems.append(f"{div}: el.data has {c['dataLength']} traces, the JSON has {c['expected']}")
        if c["domTraces"] != c["expected"]:
            problems.append(f"{div}: {c['domTraces']} .trace elements drawn, the JSON has {c['expected']}")
        if c["width"] == 0 or c["height"] == 0:
            problems.append(f"{div}: drawn at {c['width']}x{c['height']} px")
    if v.chart_wait_error:
        problems.insert(0, v.chart_wait_error)
    assert not problems, f"{_where(v)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("mode", PHONE_MODES, ids=[f"{v}-{s}" for v, s in PHONE_MODES])
@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_nothing_is_wider_than_the_phone(browsing, page, mode):
    v = browsing.visit(page, mode)
    lay = v.layout
    lines = list(lay["offenders"]) + ([f"... and {lay['more']} more"] if lay["more"] else [])
    assert lay["scrollWidth"] <= lay["innerWidth"] and not lay["offenders"], (
        f"{_where(v)}: page is {lay['scrollWidth']} px wide for a {lay['innerWidth']} px viewport; "
        f"{lay['total']} elements or texts reach past the right edge, outermost:\n  "
        + "\n  ".join(lines or ["(none found)"])
    )


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_no_console_or_page_errors(browsing, page, mode):
    v = browsing.visit(page, mode)
    errors = [f"console: {e}" for e in v.console_errors] + [f"pageerror: {e}" for e in v.page_errors]
    assert not errors, f"{_where(v)}:\n  " + "\n  ".join(errors)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_requests_stay_in_the_pages_own_folder(browsing, page, mode):
    v = browsing.visit(page, mode)
    origin = browsing.base
    bad = []
    for url in v.requests:
        parts = urlsplit(url)
        if parts.scheme == "data" or url.startswith("blob:" + origin):
            continue
        if f"{parts.scheme}://{parts.netloc}" != origin:
            bad.append(f"other origin: {url}")
        elif not parts.path.startswith(page.scope):
            bad.append(f"outside {page.scope}: {parts.path}")
    # the server's view also catches requests the page does not report (e.g. an automatic /favicon.ico)
    for path, status in v.served:
        if not path.startswith(page.scope):
            bad.append(f"server saw a request outside {page.scope}: {path} ({status})")
        elif status >= 400:
            bad.append(f"server answered {status} to {path}")
    assert v.requests, f"{_where(v)}: no request was recorded at all"
    assert not bad, f"{_where(v)}:\n  " + "\n  ".join(dict.fromkeys(bad))


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_robots_meta_says_noindex_nofollow(browsing, page, mode):
    v = browsing.visit(page, mode)
    assert v.robots == ["noindex, nofollow"], (
        f'{_where(v)}: expected one <meta name="robots" content="noindex, nofollow">, found {v.robots}'
    )


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("slug", SLUGS)
def test_navigation(browsing, built, slug, viewport):
    from playwright.sync_api import expect

    _, result = built
    client = next(c for c in result.model.clients if c.slug == slug)
    session_paths = {f"/clients/{slug}/" + s.url.rstrip("/") + "/" for s in client.sessions}
    root = f"{browsing.base}/clients/{slug}/"
    dashboard = re.compile(re.escape(root) + r"(index\.html)?(#.*)?$")
    tab = browsing.tab(viewport)  # the shared tab: Chromium has compiled plotly.min.js for it already
    errors: list[str] = []

    def on_error(e):
        errors.append(str(e))

    tab.on("pageerror", on_error)
    try:
        site_nav = tab.get_by_role("navigation", name="Site")

        tab.goto(root + "index.html", wait_until="load")
        site_nav.get_by_role("link", name="Actions", exact=True).click()
        expect(tab).to_have_url(re.compile(re.escape(root) + r"actions/(index\.html)?$"), timeout=5_000)
        expect(tab.locator("h1").first).to_be_visible()

        tab.go_back(wait_until="load")
        expect(tab).to_have_url(dashboard, timeout=5_000)
        links = tab.locator("#sessions a[href]")
        assert links.count() == len(client.sessions), (
            f"{slug} dashboard at {viewport}: {links.count()} links in the session list, "
            f"{len(client.sessions)} sessions in the model"
        )
        first = links.first
        first.click()
        tab.wait_for_load_state("load")
        landed = urlsplit(tab.url).path
        assert landed in session_paths, f"{slug} at {viewport}: the session link led to {tab.url}"
        expect(tab.locator("h1").first).to_be_visible()

        site_nav.get_by_role("link", name="Dashboard", exact=True).click()
        expect(tab).to_have_url(dashboard, timeout=5_000)
        expect(tab.locator("#sessions")).to_be_attached()
    finally:
        tab.remove_listener("pageerror", on_error)
        tab.goto("about:blank")
    assert not errors, f"{slug} at {viewport}: page errors while navigating: {errors}"


def test_server_saw_no_stray_request(browsing):
    """Late requests (e.g. /favicon.ico after load) may miss their visit's window; catch them here."""
    for page in PAGES:
        for mode in MODES:
            browsing.visit(page, mode)
    paths = [(p, s) for p, s in browsing.server.log]
    stray = sorted({f"{p} ({s})" for p, s in paths
                    if p.rstrip("/").endswith("favicon.ico") or not p.startswith(("/clients/", "/coach/")) or s >= 400})
    assert not stray, "the server was asked for:\n  " + "\n  ".join(stray)
