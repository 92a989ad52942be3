"""Privacy guarantees (spec section 5) and the hazards around them: every byte of every
output file is searched for canary strings planted wherever a secret can hide."""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

from coachgen.engine.site import build
from conftest import TODAY, all_output

# ---------------------------------------------------------------- helpers


def png(*canaries: str) -> bytes:
    """A valid 1x1 PNG carrying the canaries in an ancillary chunk of its own (image data,
    which publishing keeps; metadata chunks and bytes after IEND are dropped)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"cnRy", "".join(canaries).encode())
        + chunk(b"IEND", b"")
    )
    return raw


def run(vault: Path, out: Path):
    return build(vault, out=out, today=TODAY)


def site(output: dict[str, bytes], slug: str) -> dict[str, bytes]:
    prefix = f"clients/{slug}/"
    return {k: v for k, v in output.items() if k.startswith(prefix)}


def coach(output: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in output.items() if k.startswith("coach/")}


def where(files: dict[str, bytes], needle: str) -> list[str]:
    """Files whose path or bytes contain `needle`, without regard to case."""
    n = needle.lower().encode()
    return [k for k, v in files.items() if n in k.lower().encode() or n in v.lower()]


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text seen inside and outside <a>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.depth_a = 0
        self.text_in_a: list[str] = []
        self.text_out_a: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "a":
            self.depth_a += 1

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "a" and self.depth_a:
            self.depth_a -= 1

    def handle_data(self, data):
        (self.text_in_a if self.depth_a else self.text_out_a).append(data)


def parse_html(data: bytes) -> Tags:
    p = Tags()
    p.feed(data.decode("utf-8"))
    p.close()
    return p


def resolve(page: str, url: str) -> str:
    """A relative URL on `page` (output-relative path) -> the output file it points at."""
    url = unquote(url.split("#")[0].split("?")[0])
    if not url:
        return page
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), url))
    return target + "/index.html" if url.endswith("/") else target


def links(data: bytes) -> list[tuple[str, str, dict]]:
    """(tag, url, attrs) for every src= and href= on the page."""
    found = []
    for tag, attrs in parse_html(data).tags:
        for name in ("src", "href"):
            if attrs.get(name) is not None:
                found.append((tag, attrs[name], attrs))
    return found


def charts_json(html: bytes):
    m = re.search(rb'<script type="application/json" id="charts">(.*?)</script>', html, re.S)
    return None if m is None else json.loads(m.group(1).decode("utf-8"))


# ---------------------------------------------------------------- the canary vault

CLIENTS = {"ada": "Ada Lovelace", "bob": "Bob Builder", "cy": "Cy Twombly"}
# distinctive metric values: published, and recorded only in a private note
VALUES = {"ada": ("91357.2468", "64821.9753"), "bob": ("82468.1357", "53197.8642"), "cy": ("73579.2468", "42086.7531")}

PUBLIC = [  # must appear in the client's own site, never in another's
    "GOAL", "METRICLABEL", "SESSIONTITLE", "ACTIONFM", "ACTIONTASK", "INSIGHTFM", "FUTUREFM",
    "SESSIONBODY", "INSIGHTCALLOUT", "WIKIALIAS", "WIKITARGET", "ATTNAME", "ATTBYTES",
    "SECONDBODY", "JOINEDTITLE", "JOINEDBODY",
]
BODY = [  # note text: never on the coach's overview
    "SESSIONBODY", "INSIGHTCALLOUT", "WIKIALIAS", "WIKITARGET", "ATTNAME", "ATTBYTES", "SECONDBODY", "JOINEDBODY",
]
PRIVATE = [  # never in any output file
    "BODYCLIENTMD", "EMAIL", "FEE", "TAGS", "ALIASES", "EXTRAKEY",
    "SESSEMAIL", "SESSFEE", "SESSTAGS", "SESSALIASES", "SESSEXTRA",
    "COMMENTINLINE", "COMMENTMULTI", "CALLOUTPRIVATE", "CALLOUTPRIVTASK", "CALLOUTCOACH", "CALLOUTCOACHTASK",
    "CALLOUTUPPER", "CALLOUTUPPERTASK",
    "PRIVTITLE", "PRIVACTION", "PRIVMETRICKEY", "PRIVINSIGHT", "PRIVFUTURE", "PRIVBODY", "PRIVTASK",
    "PRIVATTNAME", "PRIVATTBYTES", "UNUSEDATT", "UNUSEDBYTES", "COACHOWN", "COACHOWNTITLE",
]


def c(slug: str, what: str) -> str:
    return f"CANARY-{slug.upper()}-{what}"


def client_files(slug: str, name: str) -> dict[str, str | bytes]:
    C = lambda what: c(slug, what)  # noqa: E731
    value, private_value = VALUES[slug]
    return {
        f"clients/{slug}/client.md": "\n".join([
            "---",
            f"name: {name}",
            "started: 2026-01-05",
            "next_session: 2026-04-02 10:00",
            f"email: {C('EMAIL')}",
            f"fee: {C('FEE')}",
            f"tags: [{C('TAGS')}]",
            f"aliases: [{C('ALIASES')}]",
            f"referral: {C('EXTRAKEY')}",
            "goals:",
            f"  - {C('GOAL')}",
            "metrics:",
            f"  score: {{label: {C('METRICLABEL')}, target: 10, by: 2026-06-30}}",
            "---",
            f"{C('BODYCLIENTMD')} is the coach's private file.",
            "",
        ]),
        f"clients/{slug}/sessions/2026-02-01.md": "\n".join([
            "---",
            f"title: {C('SESSIONTITLE')}",
            "duration: 60",
            f"email: {C('SESSEMAIL')}",
            f"fee: {C('SESSFEE')}",
            f"tags: [{C('SESSTAGS')}]",
            f"aliases: [{C('SESSALIASES')}]",
            f"mood: {C('SESSEXTRA')}",
            "actions:",
            f"  - text: {C('ACTIONFM')}",
            "    due: 2026-04-10",
            "metrics:",
            f"  score: {value}",
            "insights:",
            f"  - {C('INSIGHTFM')}",
            "future:",
            f"  - {C('FUTUREFM')}",
            "---",
            f"Shared text {C('SESSIONBODY')} here. %% {C('COMMENTINLINE')} %% and more.",
            "",
            "%%",
            f"{C('COMMENTMULTI')}",
            "%%",
            "",
            f"- [ ] {C('ACTIONTASK')} 📅 2026-03-01",
            "",
            "> [!private]",
            f"> {C('CALLOUTPRIVATE')}",
            f"> - [ ] {C('CALLOUTPRIVTASK')} 📅 2026-03-02",
            "",
            "> [!coach]- Between us",
            f"> {C('CALLOUTCOACH')}",
            f"> - [ ] {C('CALLOUTCOACHTASK')}",
            "",
            "> [!PRIVATE]+",
            f"> {C('CALLOUTUPPER')}",
            f"> - [x] {C('CALLOUTUPPERTASK')} ✅ 2026-02-01",
            "",
            "> [!insight]",
            f"> {C('INSIGHTCALLOUT')}",
            "",
            f"See [[Second|{C('WIKIALIAS')}]] and [[{C('WIKITARGET')}]].",
            "",
            f"![[{C('ATTNAME')}.png]]",
            "",
            "[docs](https://example.com/docs) and ![web picture](https://example.com/pic.png)",
            "",
        ]),
        f"clients/{slug}/sessions/2026-02-15 Second.md": "\n".join([
            "---",
            "actions:",
            f"  - Follow up {C('ACTIONFM')}-two 📅 2026-04-20",
            "---",
            f"Second body {C('SECONDBODY')}.",
            "",
        ]),
        f"clients/{slug}/sessions/2026-02-20.md": "\n".join([
            "---",
            f"title: {C('PRIVTITLE')}",
            "private: true",
            "actions:",
            f"  - text: {C('PRIVACTION')}",
            "    due: 2026-03-05",
            "metrics:",
            f"  score: {private_value}",
            f"  {C('PRIVMETRICKEY')}: 3",
            f"insights: [{C('PRIVINSIGHT')}]",
            f"future: [{C('PRIVFUTURE')}]",
            "---",
            f"{C('PRIVBODY')}",
            "",
            f"- [ ] {C('PRIVTASK')} 📅 2026-03-06",
            "",
            f"![[{C('PRIVATTNAME')}.png]]",
            "",
        ]),
        f"clients/{slug}/attachments/{C('ATTNAME')}.png": png(C("ATTBYTES")),
        f"clients/{slug}/attachments/{C('PRIVATTNAME')}.png": png(C("PRIVATTBYTES")),
        f"clients/{slug}/attachments/{C('UNUSEDATT')}.png": png(C("UNUSEDBYTES")),
        f"inbox/{slug}-joined.md": "\n".join([
            "---",
            f'client: "[[{name}]]"',
            "date: 2026-03-01",
            f"title: {C('JOINEDTITLE')}",
            "---",
            f"{C('JOINEDBODY')}",
            "",
        ]),
        f"coach-notes/{slug}-thoughts.md": "\n".join([
            "---",
            "date: 2026-01-01",
            f"title: {C('COACHOWNTITLE')}",
            "---",
            f"About [[{name}]]: {C('COACHOWN')}",
            "",
        ]),
    }


def canary_vault(make_vault) -> Path:
    files: dict[str, str | bytes] = {"coachgen.toml": 'title = "Practice"\ncoach = "Coach"\n'}
    for slug, name in CLIENTS.items():
        files.update(client_files(slug, name))
    return make_vault(files)


def built_canary(make_vault, tmp_path):
    vault = canary_vault(make_vault)
    out = tmp_path / "out"
    result = run(vault, out)
    return result, all_output(out)


# ---------------------------------------------------------------- 1. canaries (B1)


def test_B1_canaries_stay_in_their_client(make_vault, tmp_path):
    """B1: each client's publishable canaries appear in their site only; private ones nowhere."""
    result, output = built_canary(make_vault, tmp_path)
    assert not result.errors, result.errors
    assert {m.slug for m in result.model.clients} == set(CLIENTS)
    failures = []
    for slug in CLIENTS:
        failures += _own_site_failures(output, slug)
        failures += _other_sites_failures(output, slug)
        failures += _overview_failures(output, slug)
    stray = [k for k in output if not (k.startswith("clients/") or k.startswith("coach/"))]
    for key in stray:
        if b"canary" in output[key].lower():
            failures.append(f"canary in {key}, outside clients/ and coach/")
    assert not failures, "\n".join(failures)


def _own_site_failures(output, slug: str) -> list[str]:
    """A client's publishable canaries are on their site, and their private ones on no site at all."""
    failures = []
    own = site(output, slug)
    assert f"clients/{slug}/index.html" in own
    for what in PUBLIC:
        if not where(own, c(slug, what)):
            failures.append(f"publishable {c(slug, what)} missing from clients/{slug}/")
    if not where({k: v for k, v in own.items() if k.endswith("data.json")}, VALUES[slug][0]):
        failures.append(f"metric value {VALUES[slug][0]} missing from clients/{slug}/data.json")
    for what in PRIVATE:
        hits = where(output, c(slug, what))
        if hits:
            failures.append(f"private {c(slug, what)} found in {hits}")
    private_value = VALUES[slug][1]
    for form in (private_value, f"{float(private_value):,.2f}"):
        if where(output, form):
            failures.append(f"private metric value {form} found in {where(output, form)}")
    return failures


def _other_sites_failures(output, slug: str) -> list[str]:
    """Nothing of a client (canaries, metric value, name) reaches another client's site."""
    failures = []
    for other in CLIENTS:
        if other == slug:
            continue
        theirs = site(output, other)
        hits = where(theirs, f"CANARY-{slug.upper()}-")
        if hits:
            failures.append(f"{slug}'s canaries found in {other}'s site: {hits}")
        if where(theirs, VALUES[slug][0]):
            failures.append(f"{slug}'s metric value found in {other}'s site")
        if where(theirs, CLIENTS[slug]):
            failures.append(f"{slug}'s name found in {other}'s site: {where(theirs, CLIENTS[slug])}")
    return failures


def _overview_failures(output, slug: str) -> list[str]:
    """The coach's overview shows a client's status only, never the text of their notes."""
    overview = coach(output)
    assert "coach/index.html" in overview
    assert where(overview, CLIENTS[slug]), "the overview names every client"
    assert where(overview, c(slug, "ACTIONTASK")), "the overview lists overdue action text"
    return [f"note text {c(slug, what)} on the coach's overview" for what in BODY if where(overview, c(slug, what))]


# ---------------------------------------------------------------- 2. robots (guarantee 3)


def test_G3_every_page_noindex_and_robots_txt(make_vault, tmp_path):
    """Guarantee 3: every .html has the robots meta; every client folder has robots.txt Disallow: /."""
    _, output = built_canary(make_vault, tmp_path)
    pages = [k for k in output if k.endswith(".html")]
    assert len(pages) >= 3 * 6 + 1
    missing = [k for k in pages if b'<meta name="robots" content="noindex, nofollow">' not in output[k]]
    assert not missing
    for slug in CLIENTS:
        robots = output.get(f"clients/{slug}/robots.txt")
        assert robots is not None
        assert re.search(rb"(?m)^Disallow: /\s*$", robots)
        assert re.search(rb"(?mi)^User-agent: \*\s*$", robots)


# ---------------------------------------------------------------- 3. self-containment (guarantee 4)


def test_G4_client_pages_load_nothing_from_outside(make_vault, tmp_path):
    """Guarantee 4: relative src/href resolving to existing files inside clients/<slug>/; external
    links only as coach-written <a> with rel=noopener noreferrer; no CDN."""
    _, output = built_canary(make_vault, tmp_path)
    failures = []
    externals = 0
    for slug in CLIENTS:
        root = f"clients/{slug}/"
        for page in (k for k in site(output, slug) if k.endswith(".html")):
            for tag, url, attrs in links(output[page]):
                where_ = f"{page}: <{tag} {url!r}>"
                if url.startswith("#"):
                    continue
                if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", url) or url.startswith("//"):
                    if tag != "a" or attrs.get("href") != url or not url.startswith(("http://", "https://")):
                        failures.append(f"{where_}: absolute URL that is not a plain link")
                    elif not {"noopener", "noreferrer"} <= set((attrs.get("rel") or "").split()):
                        failures.append(f"{where_}: external link without rel=noopener noreferrer")
                    else:
                        externals += 1
                    continue
                if url.startswith("/"):
                    failures.append(f"{where_}: root-relative URL")
                    continue
                target = resolve(page, url)
                if not target.startswith(root):
                    failures.append(f"{where_}: resolves outside {root} to {target}")
                elif target not in output:
                    failures.append(f"{where_}: points at missing {target}")
                if tag == "script" and not target.startswith(root + "assets/"):
                    failures.append(f"{where_}: script outside the client's assets")
    for page in (k for k in output if k.endswith(".html")):
        for cdn in (b"cdn.plot.ly", b"cdn.jsdelivr", b"unpkg"):
            if cdn in output[page]:
                failures.append(f"{page}: mentions {cdn.decode()}")
    assert externals >= 3, "the coach's own external links are kept as links"
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- 4. deleted, private, moved (guarantee 6, D3)

G6_CLIENT = """\
---
name: {name}
metrics:
  score: {{label: Score}}
---
"""


def g6_note(title: str, canary: str, value: str, image: str | None, private: bool = False) -> str:
    return "\n".join([
        "---",
        f"title: {title}",
        *(["private: true"] if private else []),
        "actions:",
        f"  - text: {canary}-ACTION",
        "    due: 2026-04-01",
        "metrics:",
        f"  score: {value}",
        f"insights: [{canary}-INSIGHT]",
        "---",
        f"Body {canary}-BODY.",
        "",
        *([f"![[{image}]]", ""] if image else []),
    ])


def g6_files() -> dict[str, str | bytes]:
    return {
        "clients/ada/client.md": G6_CLIENT.format(name="Ada"),
        "clients/bob/client.md": G6_CLIENT.format(name="Bob"),
        "clients/ada/sessions/2026-02-01.md": g6_note("Gone", "CANARY-GONE", "11111.5", "gone.png")
        + "\n![[both.png]]\n",
        "clients/ada/sessions/2026-02-02.md": g6_note("Hidden", "CANARY-HIDDEN", "22222.5", "hidden.png"),
        "clients/ada/sessions/2026-02-03.md": g6_note("Moved", "CANARY-MOVED", "33333.5", "moved.png"),
        "clients/ada/sessions/2026-02-04.md": g6_note("Stays", "CANARY-STAYS", "44444.5", "both.png"),
        "clients/bob/sessions/2026-02-01.md": g6_note("Bob own", "CANARY-BOBOWN", "55555.5", None),
        "clients/ada/attachments/gone.png": png("CANARY-GONE-BYTES"),
        "clients/ada/attachments/hidden.png": png("CANARY-HIDDEN-BYTES"),
        "clients/ada/attachments/moved.png": png("CANARY-MOVED-BYTES"),
        "clients/ada/attachments/both.png": png("CANARY-BOTH-BYTES"),
    }


def assert_no_trace(ada: dict[str, bytes], canary: str, value: str, page: str) -> None:
    for suffix in ("-ACTION", "-INSIGHT", "-BODY", "-BYTES"):
        assert not where(ada, canary + suffix), (canary + suffix, where(ada, canary + suffix))
    assert not where(ada, value)
    assert not [k for k in ada if f"/sessions/{page}/" in k]
    data = json.loads(ada["clients/ada/data.json"])
    assert page not in {s["id"] for s in data["sessions"]}
    assert page not in {a["session"] for a in data["actions"]}
    assert page not in {i["session"] for i in data["insights"]}
    assert all(p["value"] != float(value) for m in data["metrics"] for p in m["points"])


def test_G6_D3_deleted_private_moved_leave_no_trace(make_vault, tmp_path):
    """Guarantee 6 / D3: after delete, private: true and a move, the old client's folder holds no
    trace, and every incremental build equals a clean build."""
    vault = make_vault(g6_files())
    out = tmp_path / "out"

    removed: list[str] = []

    def rebuild_and_compare(step: int) -> dict[str, bytes]:
        result = run(vault, out)
        assert not result.errors, result.errors
        removed[:] = result.removed
        fresh = tmp_path / f"fresh-{step}"
        run(vault, fresh)
        inc, clean = all_output(out), all_output(fresh)
        assert sorted(inc) == sorted(clean)
        assert [k for k in inc if inc[k] != clean[k]] == []
        return inc

    first = rebuild_and_compare(0)
    ada = site(first, "ada")
    for canary in ("CANARY-GONE", "CANARY-HIDDEN", "CANARY-MOVED", "CANARY-STAYS"):
        assert where(ada, canary + "-BODY") and where(ada, canary + "-ACTION")
    for canary in ("CANARY-GONE", "CANARY-HIDDEN", "CANARY-MOVED", "CANARY-BOTH"):
        assert where(ada, canary + "-BYTES"), canary
    assert "clients/ada/sessions/2026-02-01/index.html" in ada

    # (a) delete a session note
    (vault / "clients/ada/sessions/2026-02-01.md").unlink()
    ada = site(rebuild_and_compare(1), "ada")
    assert_no_trace(ada, "CANARY-GONE", "11111.5", "2026-02-01-gone")
    assert "clients/ada/sessions/2026-02-01/index.html" in removed
    assert where(ada, "CANARY-BOTH-BYTES"), "an attachment another note still uses stays"

    # (b) make another private
    (vault / "clients/ada/sessions/2026-02-02.md").write_text(
        g6_note("Hidden", "CANARY-HIDDEN", "22222.5", "hidden.png", private=True), encoding="utf-8")
    output = rebuild_and_compare(2)
    assert_no_trace(site(output, "ada"), "CANARY-HIDDEN", "22222.5", "2026-02-02-hidden")
    assert not where(output, "CANARY-HIDDEN")

    # (c) move a note to another client's folder
    (vault / "clients/bob/sessions").mkdir(exist_ok=True)
    shutil.move(vault / "clients/ada/sessions/2026-02-03.md", vault / "clients/bob/sessions/2026-02-03.md")
    output = rebuild_and_compare(3)
    ada, bob = site(output, "ada"), site(output, "bob")
    assert_no_trace(ada, "CANARY-MOVED", "33333.5", "2026-02-03-moved")
    assert where(bob, "CANARY-MOVED-BODY") and where(bob, "CANARY-MOVED-ACTION")
    assert "clients/bob/sessions/2026-02-03/index.html" in bob
    assert not where(bob, "CANARY-MOVED-BYTES"), "the image stayed in Ada's folder: Bob may not load it"
    assert where(ada, "CANARY-STAYS-BODY") and where(ada, "CANARY-BOTH-BYTES")


# ---------------------------------------------------------------- 5. link scope (B5, B6)


def test_B5_B6_links_and_embeds_stay_in_the_client(make_vault, tmp_path):
    """B5/B6: [[Goals]] resolves to the client's own note; ../ paths never reach another client;
    a shared attachments/ image is copied in."""
    vault = make_vault({
        "clients/alice/client.md": "---\nname: Alice\n---\n",
        "clients/bob/client.md": "---\nname: Bob\n---\n",
        "clients/alice/Goals.md": "---\ndate: 2026-01-10\n---\nCANARY-ALICE-GOALS\n",
        "clients/bob/Goals.md": "---\ndate: 2026-01-10\n---\nCANARY-BOB-GOALS\n",
        "clients/bob/secret.md": "---\ndate: 2026-01-11\n---\nCANARY-BOB-SECRETNOTE\n",
        "clients/bob/secret.png": png("CANARY-BOB-SECRETPNG"),
        "clients/bob/x.png": png("CANARY-BOB-XPNG"),
        "clients/bob/attachments/bobonly.png": png("CANARY-BOB-ONLYPNG"),
        "attachments/shared.png": png("CANARY-SHAREDPNG"),
        "clients/alice/2026-02-01 Links.md": (
            "---\ninsights: [x]\n---\n"
            "Goals: [[Goals]]\n\n"
            "![[../bob/secret.png]] ![[../bob/secret]] [[../bob/secret]] ![[bobonly.png]] ![[secret.png]]\n\n"
            "![[shared.png]]\n"
        ),
        "clients/alice/sessions/2026-02-02 Deep.md": (
            "---\ninsights: [y]\n---\n"
            "![](../../bob/x.png) [[../../bob/secret]] ![[../../bob/secret.png]] ![[../../bob/Goals]]\n\n"
            "[file](../../bob/x.png) [note](../../bob/secret.md) [goals](../../bob/Goals.md)\n"
            "![img](../../bob/attachments/bobonly.png) ![[x.png]]\n"
        ),
    })
    out = tmp_path / "out"
    result = run(vault, out)
    assert not result.errors, result.errors
    output = all_output(out)
    alice = site(output, "alice")
    assert not where(alice, "CANARY-BOB"), where(alice, "CANARY-BOB")
    assert where(alice, "CANARY-SHAREDPNG"), "a shared attachment is copied into the client's assets"
    assert [k for k in where(alice, "CANARY-SHAREDPNG") if k.startswith("clients/alice/assets/")]
    assert where(site(output, "bob"), "CANARY-BOB-GOALS"), "Bob's own Goals is on Bob's site"
    page = "clients/alice/sessions/2026-02-01/index.html"
    goal_links = [
        url for tag, url, attrs in links(alice[page])
        if tag == "a" and "internal" in (attrs.get("class") or "") and "2026-01-10" in url  # Goals' date
    ]
    assert goal_links, "[[Goals]] is a link"
    for url in goal_links:
        target = resolve(page, url)
        assert target.startswith("clients/alice/") and target in output, target
        assert b"CANARY-ALICE-GOALS" in output[target]
    for p in (k for k in alice if k.endswith(".html")):
        for _tag, url, _ in links(alice[p]):
            if not url.startswith(("#", "http")):
                assert resolve(p, url).startswith("clients/alice/"), (p, url)


# ---------------------------------------------------------------- 6. linked private note (B3)


def test_B3_linked_private_note_is_plain_text_and_uncounted(make_vault, tmp_path):
    """B3: [[Private note]] renders as text without URL; the note is absent from counts, lists,
    data.json, calendar.ics and charts."""
    vault = make_vault({
        "clients/alice/client.md": "---\nname: Alice\nmetrics:\n  mood: {label: Mood, target: 10}\n---\n",
        "clients/alice/sessions/2026-02-01 Shared.md": (
            "---\nmetrics:\n  mood: 5\n---\n"
            "See [[Private note]] and [[Private note|the hidden one]] and [[private note#Part]].\n\n"
            "![[Private note]]\n\n[md link](Private%20note.md)\n"
        ),
        "clients/alice/sessions/2026-02-10 Private note.md": (
            "---\nprivate: true\nmetrics:\n  mood: 4321.5\n"
            "actions:\n  - text: CANARY-B3-ACTION\n    due: 2026-04-01\n"
            "insights: [CANARY-B3-INSIGHT]\nfuture: [CANARY-B3-FUTURE]\n---\n"
            "CANARY-B3-BODY\n\n- [ ] CANARY-B3-TASK 📅 2026-04-02\n"
        ),
    })
    out = tmp_path / "out"
    result = run(vault, out)
    assert not result.errors, result.errors
    output = all_output(out)
    alice = site(output, "alice")
    assert not where(output, "CANARY-B3"), where(output, "CANARY-B3")
    assert not where(output, "4321.5") and not where(output, "4,321.5")
    assert not where(output, "private-note"), where(output, "private-note")
    page = parse_html(alice["clients/alice/sessions/2026-02-01/index.html"])
    outside, inside = " ".join(page.text_out_a), " ".join(page.text_in_a)
    assert "Private note" in outside and "the hidden one" in outside
    assert "Private note" not in inside and "the hidden one" not in inside
    data = json.loads(alice["clients/alice/data.json"])
    assert [s["title"] for s in data["sessions"]] == ["Shared"]
    assert data["actions"] == [] and data["insights"] == [] and data["future"] == []
    assert [p["value"] for m in data["metrics"] for p in m["points"]] == [5]
    assert b"CANARY" not in alice["clients/alice/calendar.ics"]
    for name in ("clients/alice/index.html", "clients/alice/metrics/index.html"):
        charts = charts_json(alice[name])
        ys = [y for fig in charts.values() for trace in fig["data"] for y in trace["y"]]
        assert 4321.5 not in ys
    session_list = alice["clients/alice/index.html"].split(b'class="session-list"')[1].split(b"</ol>")[0]
    assert session_list.count(b"<li>") == 1
    assert b"<dt>Sessions</dt><dd>1</dd>" in output["coach/index.html"]
    assert [len(cl.sessions) for cl in result.model.clients] == [1]


# ---------------------------------------------------------------- 7. who gets a site (D4, B8)


def test_D4_B8_slug_collisions_unknown_and_wrong_clients_private_profile(make_vault, tmp_path):
    """D4/B8: a slug collision is an error at both client.md files, and neither gets a site
    (contract revision 3); client: Nobody and client: naming another client are errors and on
    no site; a private client.md gets no site."""
    vault = make_vault({
        "clients/ada-one/client.md": "---\nname: Ada One\nslug: ada\n---\n",
        "clients/ada-one/2026-02-01.md": "---\ninsights: [CANARY-ADAONE-OK]\n---\nok\n",
        "clients/ada-two/client.md": "---\nname: Ada Two\nslug: ada\n---\n",
        "clients/ada-two/2026-02-01.md": "---\ninsights: [CANARY-ADATWO-NOTE]\n---\nCANARY-ADATWO-BODY\n",
        "clients/bob/client.md": "---\nname: Bob\n---\n",
        "clients/bob/2026-02-01.md": "---\ninsights: [CANARY-BOB-OK]\n---\nok\n",
        "inbox/nobody.md": "---\nclient: Nobody\ndate: 2026-02-01\n---\nCANARY-NOBODY-INBOX\n",
        "clients/bob/nobody.md": "---\nclient: Nobody\ndate: 2026-02-02\n---\nCANARY-NOBODY-INFOLDER\n",
        "clients/bob/wrong.md": "---\nclient: Ada One\ndate: 2026-02-03\n---\nCANARY-WRONG-CLIENT\n",
        "clients/paused/client.md": "---\nname: Paused Person\nprivate: true\n---\nCANARY-PAUSED-PROFILE\n",
        "clients/paused/2026-02-01.md": "---\ninsights: [CANARY-PAUSED-NOTE]\n---\nCANARY-PAUSED-BODY\n",
        "inbox/paused.md": '---\nclient: "[[Paused Person]]"\ndate: 2026-02-04\n---\nCANARY-PAUSED-JOINED\n',
    })
    out = tmp_path / "out"
    result = run(vault, out)
    output = all_output(out)
    errors = {p.path: p for p in result.errors}
    assert "clients/ada-two/client.md" in errors and "ada" in errors["clients/ada-two/client.md"].message
    assert "clients/ada-one/client.md" in errors and "ada" in errors["clients/ada-one/client.md"].message
    assert "inbox/nobody.md" in errors and errors["inbox/nobody.md"].line == 2
    assert "clients/bob/nobody.md" in errors
    assert "clients/bob/wrong.md" in errors
    slugs = {p.split("/")[1] for p in output if p.startswith("clients/")}
    assert slugs == {"bob"}
    assert where(site(output, "bob"), "CANARY-BOB-OK")
    for canary in ("CANARY-ADAONE", "CANARY-ADATWO", "CANARY-NOBODY", "CANARY-WRONG", "CANARY-PAUSED"):
        assert not where(output, canary), (canary, where(output, canary))
    assert not [k for k in output if "paused" in k.lower()]


# ---------------------------------------------------------------- 8. symbolic links


def test_symlinks_are_never_followed(make_vault, tmp_path):
    """Symbolic links (to files outside the vault, or to another client's notes) are not followed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("---\ndate: 2026-02-05\n---\nCANARY-OUTSIDE-NOTE\n", encoding="utf-8")
    (outside / "secret.png").write_bytes(png("CANARY-OUTSIDE-PNG"))
    (outside / "shared.png").write_bytes(png("CANARY-OUTSIDE-SHARED"))
    vault = make_vault({
        "clients/ada/client.md": "---\nname: Ada\n---\n",
        "clients/bob/client.md": "---\nname: Bob\n---\n",
        "clients/bob/sessions/2026-02-01.md": "---\ninsights: [bob]\n---\nCANARY-BOB-NOTE\n",
        "clients/bob/attachments/bob.png": png("CANARY-BOB-PNG"),
        "clients/ada/sessions/2026-02-01.md": (
            "---\ninsights: [ada]\n---\nCANARY-ADA-OWN\n\n![[evil.png]] ![[linked.png]] ![[bob.png]]\n\n"
            "[[2026-02-05]] ![[2026-02-05]] ![[bobnote]] ![[bobdir/sessions/2026-02-01]]\n"
        ),
    })
    links_ = {
        "clients/ada/sessions/2026-02-05.md": outside / "secret.md",
        "clients/ada/attachments/evil.png": outside / "secret.png",
        "attachments/linked.png": outside / "shared.png",
        "clients/ada/sessions/bobnote.md": vault / "clients/bob/sessions/2026-02-01.md",
        "clients/ada/attachments/bob.png": vault / "clients/bob/attachments/bob.png",
        "clients/ada/bobdir": vault / "clients/bob",
        "clients/linked-client": vault / "clients/bob",
    }
    for rel, target in links_.items():
        (vault / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, vault / rel)
    out = tmp_path / "out"
    run(vault, out)
    output = all_output(out)
    ada = site(output, "ada")
    assert where(ada, "CANARY-ADA-OWN")
    assert not where(output, "CANARY-OUTSIDE"), where(output, "CANARY-OUTSIDE")
    assert not where(ada, "CANARY-BOB"), where(ada, "CANARY-BOB")
    assert {p.split("/")[1] for p in output if p.startswith("clients/")} == {"ada", "bob"}


# ---------------------------------------------------------------- 9. safe HTML (A8, A10)

NASTY = "</script><!--<script> \u2028 end"


def test_A8_A10_raw_html_and_bad_urls_are_inert(make_vault, tmp_path):
    """A8/A10: raw HTML stays text, javascript:/data: URLs are no links, and a label or title with
    </script><!--<script> and U+2028 keeps the charts JSON parseable and the script tags balanced."""
    vault = make_vault({
        "clients/ada/client.md": (
            "---\nname: Ada\nmetrics:\n"
            '  score: {label: "</script><!--<script> \\u2028 end", target: 10}\n---\n'
        ),
        "clients/ada/sessions/2026-02-01.md": (
            '---\ntitle: "</script><!--<script> \\u2028 end"\nmetrics:\n  score: 5\n---\n'
            "<script>alert(1)</script>\n\n"
            "<img src=x onerror=alert(1)>\n\n"
            '<a href="javascript:alert(3)">raw</a>\n\n'
            "[x](javascript:alert(1)) [y](&#106;avascript:alert(1)) [z](data:text/html;base64,xx) "
            "[w](JaVaScRiPt:alert(2)) [v](vbscript:msgbox(1)) [u](java%0Ascript:alert(4))\n\n"
            "![i](javascript:alert(5)) ![d](data:image/png;base64,xx)\n"
        ),
    })
    out = tmp_path / "out"
    result = run(vault, out)
    assert not result.errors, result.errors
    output = all_output(out)
    html_pages = {k: v for k, v in output.items() if k.endswith(".html")}
    failures = []
    for name, data in html_pages.items():
        lower = data.lower()
        if b"<script>alert" in lower or b"<img src=x" in lower:
            failures.append(f"{name}: raw HTML was not escaped")
        if lower.count(b"<script") != lower.count(b"</script>"):
            failures.append(f"{name}: {lower.count(b'<script')} <script vs {lower.count(b'</script>')} </script>")
        for tag, attrs in parse_html(data).tags:
            for attr, value in attrs.items():
                if attr.startswith("on"):
                    failures.append(f"{name}: <{tag} {attr}=...>")
                if attr in ("href", "src") and value:
                    cleaned = re.sub(r"[\x00-\x20]", "", value).lower()
                    if re.match(r"(javascript|vbscript|data|file):", cleaned):
                        failures.append(f"{name}: <{tag} {attr}={value!r}>")
        for m in re.finditer(rb'(?:href|src)\s*=\s*["\']?\s*(?:javascript|vbscript|data):', lower):
            failures.append(f"{name}: {m.group(0)!r}")
    for name in ("clients/ada/index.html", "clients/ada/metrics/index.html"):
        charts = charts_json(output[name])
        assert charts, f"{name} has its charts block"
        labels = [trace.get("name") for fig in charts.values() for trace in fig["data"]]
        assert NASTY in labels, labels
    session_pages = [k for k in html_pages if "/sessions/" in k]
    assert len(session_pages) == 1
    assert parse_html(output[session_pages[0]]).text_out_a, "the page still renders"
    assert json.loads(output["clients/ada/data.json"])["sessions"][0]["title"] == NASTY
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- further hazards found while testing


def one_client_site(make_vault, tmp_path, body: str, toml: str = "") -> dict[str, bytes]:
    vault = make_vault({
        "coachgen.toml": toml or 'title = "Practice"\n',
        "clients/ada/client.md": "---\nname: Ada\n---\n",
        "clients/ada/sessions/2026-02-01.md": "---\ninsights: [CANARY-VISIBLE]\n---\n" + body,
    })
    out = tmp_path / "out"
    result = run(vault, out)
    assert not result.errors, result.errors
    output = all_output(out)
    assert where(output, "CANARY-VISIBLE"), "the note is published"
    return output


def test_B1_comment_markers_next_to_text_that_only_looks_like_code(make_vault, tmp_path):
    """B1 (comments): an escaped backtick does not open a code span, and a backtick fence whose info
    string holds a backtick is no fence (CommonMark), so the %% comment beside them is still hidden."""
    output = one_client_site(make_vault, tmp_path, (
        "Escaped \\`%% CANARY-COMMENT-ESCAPED %%\\` ticks.\n\n"
        "``` not `a fence\n%% CANARY-COMMENT-FENCE %%\n```\n"
    ))
    leaked = {c_: where(output, c_) for c_ in ("CANARY-COMMENT-ESCAPED", "CANARY-COMMENT-FENCE") if where(output, c_)}
    assert not leaked, leaked


def test_B1_link_definition_inside_private_callout_stays_private(make_vault, tmp_path):
    """B1 (callouts): a link reference definition written inside a [!private] callout is removed with
    it: its URL does not reach the client's site through a [ref] used in the shared text."""
    output = one_client_site(make_vault, tmp_path, (
        "See [ref] and [other][ref].\n\n"
        "> [!private]\n>\n> [ref]: https://example.com/CANARY-PRIVATE-LINKREF\n"
    ))
    assert not where(output, "CANARY-PRIVATE-LINKREF"), where(output, "CANARY-PRIVATE-LINKREF")


def test_G4_allow_html_still_loads_nothing_from_outside(make_vault, tmp_path):
    """Guarantee 4 and 'links with javascript: URLs are not links' hold with allow_html = true too:
    raw HTML may not load a tracker, a remote script, or another client's files."""
    output = one_client_site(make_vault, tmp_path, (
        '<img src="https://tracker.example/pixel.png">\n\n'
        '<script src="https://cdn.example/x.js"></script>\n\n'
        '<p><a href="javascript:alert(1)">x</a> <img src="../../../bob/assets/style.css"></p>\n'
    ), toml='allow_html = true\n')
    page = output["clients/ada/sessions/2026-02-01/index.html"]
    failures = []
    for tag, url, _attrs in links(page):
        cleaned = re.sub(r"[\x00-\x20]", "", url).lower()
        if cleaned.startswith(("javascript:", "vbscript:", "data:")):
            failures.append(f"<{tag} {url}>")
        if tag != "a" and (re.match(r"[a-z][a-z0-9+.-]*:", cleaned) or cleaned.startswith("//")):
            failures.append(f"<{tag} {url}> loads from another origin")
        if tag != "a" and not re.match(r"[a-z][a-z0-9+.-]*:", cleaned) and not url.startswith("#"):
            target = resolve("clients/ada/sessions/2026-02-01/index.html", url)
            if not target.startswith("clients/ada/"):
                failures.append(f"<{tag} {url}> loads from outside clients/ada/")
    assert not failures, failures


def test_private_flag_without_value_fails_closed(make_vault, tmp_path):
    """'private must be a real true or false': an empty `private:` is not `false`; the note is kept
    off every site (with an error) rather than published."""
    vault = make_vault({
        "clients/ada/client.md": "---\nname: Ada\n---\n",
        "clients/ada/sessions/2026-02-01.md": "---\nprivate:\n---\nCANARY-EMPTY-PRIVATE\n",
        "clients/ada/sessions/2026-02-02.md": "---\nprivate: yes\n---\nCANARY-YES-PRIVATE\n",
    })
    out = tmp_path / "out"
    result = run(vault, out)
    output = all_output(out)
    assert not where(output, "CANARY-YES-PRIVATE")
    assert "clients/ada/sessions/2026-02-02.md" in {p.path for p in result.errors}
    assert not where(output, "CANARY-EMPTY-PRIVATE"), where(output, "CANARY-EMPTY-PRIVATE")
    assert "clients/ada/sessions/2026-02-01.md" in {p.path for p in result.errors}


def _jpeg_with_exif(canary: str) -> bytes:
    """A minimal JPEG byte stream: SOI, APP0 JFIF, APP1 EXIF (with a GPS-like canary), a
    comment, then a start of scan and EOI."""
    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return (b"\xff\xd8" + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
            + segment(0xE1, b"Exif\x00\x00GPS " + canary.encode()) + segment(0xFE, b"comment " + canary.encode())
            + segment(0xDA, b"\x00\x01\x01\x00\x00\x3f\x00") + b"PIXELS-KEPT" + b"\xff\xd9")


def test_B9_metadata_is_stripped_from_images_and_no_source_files_are_published(make_vault, tmp_path):
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    tagged_png = (png("PNG-PIXELS-KEPT")[:-12] + chunk(b"tEXt", b"Author\x00CANARY-PNG-TEXT") + chunk(b"IEND", b"")
                  + b"CANARY-TRAILER")
    vault = make_vault({
        "clients/ada/client.md": "---\nname: Ada\n---\n",
        "clients/ada/s/2026-01-05.md": "![[photo.jpg]] ![[scan.png]]\n\n- [ ] x",
        "clients/ada/photo.jpg": _jpeg_with_exif("CANARY-EXIF-GPS"),
        "clients/ada/scan.png": tagged_png,
        ".obsidian/workspace.json": "{}",
    })
    out = tmp_path / "out"
    run(vault, out)
    files = all_output(out)
    blobs = b"".join(files.values())
    assert b"PIXELS-KEPT" in blobs and b"PNG-PIXELS-KEPT" in blobs
    for canary in (b"CANARY-EXIF-GPS", b"CANARY-PNG-TEXT", b"CANARY-TRAILER"):
        assert canary not in blobs
    assert not [p for p in files if p.endswith(".md") or "/." in "/" + p]
    assert all(b'name="generator"' not in data for p, data in files.items() if p.endswith(".html"))


def test_B2_hidden_comments_leave_page_and_source(make_vault, tmp_path):
    vault = make_vault({
        "clients/ada/client.md": "---\nname: Ada\n---\n",
        "clients/ada/s/2026-01-05.md": (
            "Visible %% CANARY-INLINE %% text.\n\n%%\nCANARY-BLOCK\n```\nCANARY-FENCE-IN-COMMENT\n```\n%%\n\n"
            "<!-- CANARY-HTML -->\n\n`%% kept-inline-code %%`\n\n```\n%% kept-fenced %%\n```\n\n- [ ] x\n"
        ),
    })
    run(vault, tmp_path / "out")
    page = (tmp_path / "out/clients/ada/sessions/2026-01-05/index.html").read_text()
    for canary in ("CANARY-INLINE", "CANARY-BLOCK", "CANARY-FENCE-IN-COMMENT", "CANARY-HTML"):
        assert canary not in page
    assert "%% kept-inline-code %%" in page and "%% kept-fenced %%" in page


def test_B4_only_referenced_attachments_are_copied(make_vault, tmp_path):
    vault = make_vault({
        "clients/ada/client.md": "---\nname: Ada\n---\n",
        "clients/ada/s/2026-01-05.md": "![[used.png]]\n\n- [ ] x",
        "clients/ada/s/2026-01-06.md": "---\nprivate: true\n---\n![[private-only.png]]",
        "clients/ada/used.png": png("CANARY-USED"),
        "clients/ada/private-only.png": png("CANARY-PRIVATE-ONLY"),
        "attachments/unreferenced.png": png("CANARY-UNREFERENCED"),
        "clients/ada/.DS_Store": b"CANARY-DSSTORE",
        "clients/ada/report.pdf": b"%PDF CANARY-PDF",
    })
    run(vault, tmp_path / "out")
    files = all_output(tmp_path / "out")
    blobs = b"".join(files.values())
    assert b"CANARY-USED" in blobs
    for canary in (b"CANARY-PRIVATE-ONLY", b"CANARY-UNREFERENCED", b"CANARY-DSSTORE", b"CANARY-PDF"):
        assert canary not in blobs
    assert ([p for p in files if "/assets/files/" in p]
            == [p for p in files if p.startswith("clients/ada/assets/files/")])
    assert len([p for p in files if "/assets/files/" in p]) == 1


def test_B7_a_note_for_two_clients_is_refused(make_vault, tmp_path):
    vault = make_vault({
        "clients/alice/client.md": "---\nname: Alice\n---\n",
        "clients/bob/client.md": "---\nname: Bob\n---\n",
        "shared/2026-01-05 group.md": "---\nclient: [alice, bob]\n---\nCANARY-GROUP",
    })
    result = run(vault, tmp_path / "out")
    assert "shared/2026-01-05 group.md:2: error: 'client' must be text" in map(str, result.problems)
    assert not any(b"CANARY-GROUP" in data for data in all_output(tmp_path / "out").values())


def test_B8_a_miscased_client_key_is_reported_and_the_note_goes_nowhere(make_vault, tmp_path):
    vault = make_vault({
        "clients/alice/client.md": "---\nname: Alice\n---\n",
        "inbox/2026-01-05 call.md": "---\nClient: alice\n---\nCANARY-MISCASED",
    })
    result = run(vault, tmp_path / "out")
    assert ("inbox/2026-01-05 call.md:2: warning: 'Client' is not 'client' (keys are lower-case), "
            "so it joins no client") in map(str, result.problems)
    assert not any(b"CANARY-MISCASED" in data for data in all_output(tmp_path / "out").values())
