"""Findings of the privacy review: comments next to code (F4), raw HTML URLs that climb out of
the client's folder (F9), and embeds that multiply a page's size (F10). Canaries are planted
and every output byte is searched."""

from __future__ import annotations

import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coachgen.engine.site import build
from coachgen.parse import markdown
from coachgen.parse.markdown import parse
from coachgen.plan import pages
from coachgen.privacy.rules import sanitize
from conftest import TODAY, all_output

CANARY = "CANARY-SECRET"


def outside_code(html: str) -> str:
    """The HTML with the content of every <code> element removed (its start tag is kept)."""
    return re.sub(r"(<code[^>]*>).*?</code>", r"\1</code>", html, flags=re.S)


def leaked(html: str, canary: str = CANARY) -> bool:
    return canary in outside_code(html)


def write_vault(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def build_one(tmp_path: Path, body: str, toml: str = ""):
    """A vault with client ada (one session with `body`) and client bob; built. -> (result, output)."""
    vault = write_vault(tmp_path / "vault", {
        "coachgen.toml": 'title = "Practice"\npasswords = "optional"\n' + toml,
        "clients/ada/client.md": "---\nname: Ada\n---\n",
        "clients/ada/sessions/2026-02-01.md": "---\ninsights: [CANARY-VISIBLE]\n---\n" + body,
        "clients/bob/client.md": "---\nname: Bob\n---\n",
        "clients/bob/sessions/2026-02-01.md": "---\ninsights: [bob]\n---\nBob's note.\n",
    })
    out = tmp_path / "out"
    result = build(vault, out=out, today=TODAY)
    assert not result.errors, result.errors
    output = all_output(out)
    assert any(b"CANARY-VISIBLE" in v for v in output.values()), "the note is published"
    return result, output


# ---------------------------------------------------------------- F4: comments next to code

SHAPES = {
    "list item, unclosed backtick fence": "- step one\n  ```\n  code\n\nShe mentioned {c} today.\n",
    "list item, unclosed tilde fence": "- step one\n  ~~~\n  code\n\nShe mentioned {c} today.\n",
    "nested list item": "- a\n  - b\n    ```\n    code\n\n{c}\n",
    "ordered list item": "1. step\n   ```\n   code\n\nText {c}.\n",
    "blockquote": "> ```\n> code\n\nShe mentioned {c} today.\n",
    "callout": "> [!note] Title\n> ```\n> code\n\nShe mentioned {c} today.\n",
    "private callout holding a fence": "> [!private]\n> ```\n> code\n\nShe mentioned {c} today.\n",
    "unclosed fence at the end": "Intro {c} here.\n\n```\nnever closed\n",
    "comment after a closed fence, then an unclosed one": "```\ncode\n```\n{c}\n~~~\nunclosed\n",
    "fence indented 4 spaces (no fence)": "Para\n    ```\nText {c}.\n",
    "fence indented 4 spaces in a list": "- item\n\n    ```\n    code\n\n{c}\n",
    "fence indented 5 spaces after a blank line (indented code)": "Para\n\n     ```\n\nText {c}.\n",
    "tab-indented fence": "- item\n\t```\n\tcode\n\n{c}\n",
    "fence opened inside a comment": "%% ```\n%%\nText {c}.\n",
    "fence opened inside a multi-line comment": "%%\n```\n%%\nText {c}.\n",
    "html comment holding a fence": "<!--\n```\n-->\nText {c}.\n",
    "multi-line comment starting before a fence": "Text %% start\n```\n" + CANARY + "\n```\nend %% visible\n",
    "multi-line comment starting in a list item": "- item %% start\n  ```\n  " + CANARY + "\n\nend %% visible\n",
    "comment spanning lines after a list fence": "- a\n  ```\n\n%%\n" + CANARY + "\n%%\n",
    "fence info string": "~~~ {c}\ncode\n~~~\n",
    "footnote holding a fence": "Text[^1]\n\n[^1]: note\n    ```\n    code\n\n{c}\n",
    "autolink holding a backtick": "<http://example.com/`> {c} `\n",
    "link destination holding a backtick": "[a](<`>) {c} `\n",
    "wikilink holding a code span": "[[`{c}`]]\n",
    "tilde fence info with a code span": "~~~ `{c}`\ncode\n~~~\n",
}
COMMENTS = {"percent": "%% " + CANARY + " %%", "html": "<!-- " + CANARY + " -->"}


@pytest.mark.parametrize("allow_html", [False, True], ids=["plain", "allow_html"])
@pytest.mark.parametrize("kind", sorted(COMMENTS))
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_F4_comment_beside_code_is_removed(shape, kind, allow_html):
    """F4: wherever the parser's idea of code differs from a line-based guess, a comment outside
    code is still removed: the canary never reaches the HTML outside a <code> element."""
    body = SHAPES[shape].replace("{c}", COMMENTS[kind])
    if kind == "html":
        body = body.replace("%% start", "<!-- start").replace("end %%", "end -->")
    html, _ = parse(body, allow_html=allow_html, take_h1=False)
    assert not leaked(html), html
    assert CANARY not in html, html  # not even as code: it was in a comment


def test_F4_a_removed_comment_changes_what_is_code():
    """Found by the property below (against intersecting code regions): a comment holding a ```
    moves where later fences open and close. Once it is gone, the second ``` opens a fence, the
    `<!--` line is code in it, the third ``` closes it, and the last line's comment is outside
    code: it goes."""
    body = ("text %% CANARY-1\n```\nCANARY-2\n%% after\ntext\n```\ntext <!-- CANARY-3\n```\n"
            "CANARY-4\n--> after\n%% CANARY-5 %% tail\n")
    html, _ = parse(body, allow_html=False, take_h1=False)
    for gone in ("CANARY-1", "CANARY-2", "CANARY-5"):
        assert gone not in html, html
    assert "&lt;!-- CANARY-3" in html and "tail" in html, html


def test_F4_html_block_holding_a_fence_line_with_allow_html():
    """With allow_html, a `<div>` block swallows a ``` line: it opens no fence."""
    html, _ = parse("<div>\n```\n</div>\n\nShe mentioned %% " + CANARY + " %% today.\n", allow_html=True, take_h1=False)
    assert not leaked(html), html


def test_F4_code_keeps_its_comment_markers():
    """Code is shown as written: comment markers in fences, indented code and code spans stay."""
    body = (
        "Para\n\n    %% kept-indented %%\n\n```\n%% kept-fenced %%\n```\n\n"
        "- item\n  ~~~\n  <!-- kept-list-fence -->\n  ~~~\n\nAfter the list\n\n"
        "`%% kept-inline %%`\n\n> ```\n> %% kept-quoted %%\n> ```\n"
    )
    html, _ = parse(body, allow_html=False, take_h1=False)
    for kept in ("%% kept-fenced %%", "&lt;!-- kept-list-fence --&gt;", "%% kept-indented %%",
                 "%% kept-inline %%", "%% kept-quoted %%"):
        assert kept in html, (kept, html)


def test_F4_pathological_note_fails_closed(monkeypatch):
    """Where settling what is code would take too many parses, the unsettled rest is withheld:
    what is published is the settled start of the note, then blank lines."""
    body = ("text %% CANARY-1\n```\nCANARY-2\n%% after\ntext\n```\ntext <!-- CANARY-3\n```\n"
            "CANARY-4\n--> after\n%% CANARY-5 %% tail\n")
    md = markdown.parser(False)
    full = markdown.strip_comments(body, md).split("\n")
    assert "CANARY-5" not in "\n".join(full) and " tail" in full
    for budget in range(1, 8):
        monkeypatch.setattr(markdown, "_MAX_PARSES", budget)
        cut = markdown.strip_comments(body, md).split("\n")
        assert len(cut) == len(full)
        settled = next((i for i, line in enumerate(cut) if line != full[i]), len(cut))
        assert not "".join(cut[settled:]).strip(), (budget, cut)
        assert "CANARY-5" not in parse(body, allow_html=False, take_h1=False)[0]


def test_F4_line_numbers_still_match():
    """A multi-line comment keeps its line breaks: task lines after it keep their line numbers."""
    _, env = parse("- a\n  ```\n\n%%\none\ntwo\n%%\n- [ ] task\n", allow_html=False, take_h1=False)
    assert [line for _, _, line in env["tasks"]] == [7]


def test_F4_comment_after_list_fence_never_published(tmp_path):
    """F4 as found, through a real build: every output byte is searched."""
    for i, comment in enumerate(("%% her divorce CANARY-F4-PCT %%", "<!-- her divorce CANARY-F4-HTML -->")):
        _, output = build_one(tmp_path / str(i), f"- step one\n  ```\n  code\n\nShe mentioned {comment} today.\n")
        hits = [k for k, v in output.items() if b"CANARY-F4" in v or b"divorce" in v]
        assert not hits, hits


# the property: bodies of list items, quotes, fences and comments, each comment's canary its own

_PREFIXES = ["", "", "- ", "  ", "   ", "    ", "\t", "> ", "> - ", "1. "]
_FENCES = ["```", "````", "~~~", "~~~~", "``` py", "~~~ x `y`", "  ```", "    ```"]
_TEXT = ["text", "- item", "  - nested", "1. one", "> quote", "> [!note] Title", "> [!private]", "",
         "", "a `code` b", "``` not `a fence", "<div>", "</div>", "[^1]: foot", "`%% kept %%`",
         "odd %% marker", "odd <!-- marker", "-->", "%%"]
_COMMENT = ["%% {c} %%", "<!-- {c} -->", "x %%{c}%% y", "`a` <!--{c}--> `b`", "%%{c}%%    indented",
            "%%{c}%%```", "<!--{c}-->> quote", "%%{c}%%-     code", "``%%{c}%%`"]


@st.composite
def bodies(draw) -> str:
    """Lines of Markdown; every comment holds a canary of its own (CANARY-1, CANARY-2, ...)."""
    lines: list[str] = []
    canaries = iter(f"CANARY-{i}" for i in range(1, 1000))
    for _ in range(draw(st.integers(1, 12))):
        prefix = draw(st.sampled_from(_PREFIXES))
        what = draw(st.sampled_from(["text", "fence", "fence", "comment", "multi"]))
        if what == "text":
            lines.append(prefix + draw(st.sampled_from(_TEXT)))
        elif what == "fence":
            lines.append(prefix + draw(st.sampled_from(_FENCES)))
        elif what == "comment":
            lines.append(prefix + draw(st.sampled_from(_COMMENT)).replace("{c}", next(canaries)))
        else:  # a comment over lines, perhaps holding fences and list items
            opener, closer = draw(st.sampled_from([("%%", "%%"), ("<!--", "-->")]))
            inner = draw(st.lists(st.sampled_from(_FENCES + ["- item", "", "  code", next(canaries)]), max_size=3))
            lines += [prefix + "text " + opener + " " + next(canaries), *(prefix + x for x in inner),
                      prefix + next(canaries), prefix + closer + " after"]
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(_COMMENT)).replace("{c}", next(canaries)) + " %% unclosed " + next(canaries))
    return "\n".join(lines)


def published(body: str, allow_html: bool) -> str:
    """What CommonMark says a body shows, one line at a time: a line's comments stay only where
    the line is code, given the lines above it as published (a comment runs on over lines).
    Slow (a parse a line) but plain: the oracle for the property below."""
    md = markdown.parser(allow_html)
    out: list[str] = []
    closer = None
    for i, line in enumerate(body.split("\n")):
        if closer is None:
            tokens = md.block.parse("\n".join(out + [line]), md, {}, []) or []
            code = any(t.map and t.map[0] + (t.type == "fence") <= i < t.map[1]
                       for t in tokens if t.type in ("fence", "code_block"))
            if code:
                out.append(line)
                continue
        line, closer = markdown._strip_line(line, closer)
        out.append(line)
    return "\n".join(out)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies(), allow_html=st.booleans())
def test_F4_property_comments_outside_code_never_published(body, allow_html):
    """A canary inside a comment (outside code, per CommonMark) never reaches the HTML, in code
    or out of it; and no canary shows outside <code> unless CommonMark shows it as text."""
    html, _ = parse(body, allow_html=allow_html, take_h1=False)
    shown = published(body, allow_html)
    assert markdown.strip_comments(body, markdown.parser(allow_html)) == shown, body
    for canary in set(re.findall(r"CANARY-\d+", body)):
        if canary not in shown:
            assert canary not in html, (canary, body, html)


# ---------------------------------------------------------------- F9: raw HTML URLs


class _Urls(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in ("src", "href", "data-src"):
                self.found.append((tag, name, value))
            elif name == "srcset":
                self.found += [(tag, name, part.split()[0]) for part in value.split(",") if part.split()]
            elif name == "style" and "url(" in value.lower():
                self.found.append((tag, name, value))

    handle_startendtag = handle_starttag


def browser_target(page: str, url: str) -> str | None:
    """Where a browser (or a server that decodes once more) goes for a relative URL on `page`:
    controls stripped, backslashes as slashes, percent-decoding repeated. None: another origin."""
    url = re.sub(r"[\x00-\x20]", "", url)
    for _ in range(5):
        url = unquote(url)
    url = url.replace("\\", "/").split("#")[0].split("?")[0]
    if re.match(r"[a-z][a-z0-9+.-]*:", url, re.I) or url.startswith("//"):
        return None
    if url.startswith("/"):
        return url.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(page), url)) if url else page


TRAVERSALS = [
    r"..\..\..\bob\assets\icon.svg",
    "%2e%2e/%2e%2e/%2e%2e/bob/assets/icon.svg",
    ".%2e/.%2e/.%2e/bob/assets/icon.svg",
    "%2e./%2e./%2e./bob/assets/icon.svg",
    "%2E%2E/%2E%2E/%2E%2E/bob/assets/icon.svg",
    "%252e%252e/%252e%252e/%252e%252e/bob/assets/icon.svg",
    "..%2f..%2f..%2fbob/assets/icon.svg",
    "..%5c..%5c..%5cbob%5cassets%5cicon.svg",
    r"../..\../bob/assets/icon.svg",
    "..&#92;..&#92;..&#92;bob&#92;assets&#92;icon.svg",
    "&#46;&#46;/&#46;&#46;/&#46;&#46;/bob/assets/icon.svg",
    ".&#9;./.&#9;./.&#9;./bob/assets/icon.svg",
    " ../../../bob/assets/icon.svg",
    r"\\evil.example\x.png",
    "/clients/bob/assets/icon.svg",
    "sessions/../../../../bob/assets/icon.svg",
]


def test_F9_raw_html_urls_never_leave_the_client_folder(tmp_path):
    """F9: with allow_html, no src, data-src, href, srcset or style url() on any of the client's
    pages resolves outside clients/<slug>/, however the climb is spelled."""
    tags = []
    for i, url in enumerate(TRAVERSALS):
        tags += [f'<img src="{url}" alt="s{i}">', f'<img data-src="{url}" alt="d{i}">',
                 f'<a href="{url}">h{i}</a>', f'<img srcset="{url} 1x" alt="ss{i}">',
                 f'<td style="background: url(\'{url}\')">t{i}</td>']
    body = "<p>\n" + "\n".join(tags) + '\n<img src="../../assets/icon.svg" alt="own">\n</p>\n'
    _, output = build_one(tmp_path, body, toml="allow_html = true\n")
    page = "clients/ada/sessions/2026-02-01/index.html"
    assert b'src="../../assets/icon.svg"' in output[page], "a URL inside the client's folder is kept"
    failures = []
    for name, data in output.items():
        if not (name.startswith("clients/ada/") and name.endswith(".html")):
            continue
        parser = _Urls()
        parser.feed(data.decode("utf-8"))
        for tag, attr, url in parser.found:
            if attr == "style":
                failures.append(f"{name}: <{tag} style={url!r}>")
                continue
            target = browser_target(name, url)
            if target is None:
                if tag != "a":
                    failures.append(f"{name}: <{tag} {attr}={url!r}> loads from another origin")
            elif not target.startswith("clients/ada/"):
                failures.append(f"{name}: <{tag} {attr}={url!r}> -> {target}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("url", TRAVERSALS)
def test_F9_sanitize_refuses_every_climb(url):
    """F9, at the filter: on a session page (two folders down) each spelling of ../../../bob is
    dropped, while ../../assets (the client's own) stays; at the site root even ../ is out."""
    out = sanitize(f'<img src="{url}"><img src="../../assets/icon.svg">', "../../")
    assert out.count("<img") == 2 and out.count("src=") == 1 and 'src="../../assets/icon.svg"' in out, out
    assert "src=" not in sanitize('<img src="../assets/icon.svg">', "")


# ---------------------------------------------------------------- F10: embeds amplify

CHAIN = "abcd"


def chain_vault(root: Path, copies: int = 20, filler: int = 600) -> Path:
    """Notes a -> b -> c -> d, each embedding the next `copies` times."""
    files = {"coachgen.toml": 'title = "Practice"\npasswords = "optional"\n',
             "clients/ada/client.md": "---\nname: Ada\n---\n"}
    for i, name in enumerate(CHAIN):
        text = f"CANARY-NOTE-{name} " + "words " * (filler // 6) + "\n\n"
        if i + 1 < len(CHAIN):
            text += "\n\n".join([f"![[{CHAIN[i + 1]}]]"] * copies) + "\n"
        files[f"clients/ada/sessions/{name}.md"] = f"---\ndate: 2026-02-0{i + 1}\n---\n{text}"
    return write_vault(root, files)


def test_F10_repeated_embeds_do_not_amplify_a_page(tmp_path):
    """F10: a->b->c->d, 20 embeds each: no page grows past 1 MB; each note shows once."""
    out = tmp_path / "out"
    result = build(chain_vault(tmp_path / "vault"), out=out, today=TODAY)
    assert not result.errors, result.errors
    output = all_output(out)
    largest = max(output, key=lambda k: len(output[k]))
    assert len(output[largest]) < 1_000_000, (largest, len(output[largest]))
    url = {posixpath.basename(s.path): s.url for s in result.model.clients[0].sessions}
    page_a = output[f"clients/ada/{url['a.md']}index.html"].decode()
    for name in "bcd":
        assert page_a.count(f"CANARY-NOTE-{name}") == 1, name
    assert page_a.count(f'href="../../{url["b.md"]}"') >= 20, "repeats become links"
    # the build and `check` report it, naming each embedding note
    warned = {p.path for p in result.problems if "embed here repeats a note" in p.message}
    assert warned == {f"clients/ada/sessions/{n}.md" for n in "abc"}
    checked = build(tmp_path / "vault", out=None, today=TODAY, write=False)
    assert {p for p in checked.problems if "embed" in p.message} == {p for p in result.problems if "embed" in p.message}


def test_F10_embed_problems_name_the_embedding_note(tmp_path):
    """F10: the bound is reported as PATH:LINE: warning, naming each embedding note, quoting no text."""
    result = build(chain_vault(tmp_path / "vault"), out=None, today=TODAY, write=False)
    (client,) = result.model.clients
    problems = pages.embed_problems(client)
    assert {p.path for p in problems} == {f"clients/ada/sessions/{n}.md" for n in "abc"}
    for p in problems:
        assert p.level == "warning" and p.line >= 1
        assert re.fullmatch(r"clients/ada/sessions/[abc]\.md:\d+: warning: .+", str(p)), str(p)
        assert "CANARY" not in p.message and "words" not in p.message


def test_F10_inlined_total_per_page_is_capped(tmp_path, monkeypatch):
    """F10: beyond the cap on inlined note HTML per page, embeds of distinct notes become links,
    and the embedding note gets a warning; rendering and embed_problems agree."""
    files = {"coachgen.toml": 'title = "Practice"\npasswords = "optional"\n',
             "clients/ada/client.md": "---\nname: Ada\n---\n",
             "clients/ada/sessions/root.md": "---\ndate: 2026-02-01\n---\n"
                                            + "\n\n".join(f"![[n{i}]]" for i in range(6)) + "\n"}
    for i in range(6):
        files[f"clients/ada/sessions/n{i}.md"] = f"---\ndate: 2026-01-0{i + 1}\n---\nCANARY-N{i} " + "x " * 1000 + "\n"
    result = build(write_vault(tmp_path / "vault", files), out=None, today=TODAY, write=False)
    (client,) = result.model.clients
    assert not pages.embed_problems(client), "under the cap: nothing to report"
    monkeypatch.setattr(pages, "MAX_EMBED_CHARS", 5000)
    root = next(s for s in client.sessions if s.path.endswith("root.md"))
    html = pages.Resolver(client, pages.Files.of(())).html(root, "../../")
    inlined = [i for i in range(6) if f"CANARY-N{i}" in html]
    assert 1 <= len(inlined) < 6 and inlined == list(range(len(inlined))), inlined
    problems = pages.embed_problems(client)
    assert [p.path for p in problems] == ["clients/ada/sessions/root.md"], problems
    assert "CANARY" not in problems[0].message
