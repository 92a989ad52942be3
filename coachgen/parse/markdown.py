"""The MarkdownIt instance and the Obsidian syntax plugins.

One parse per note feeds both the HTML and the data (task lines, insight callouts, the
first heading). Links, embeds and images depend on other notes and files, which a parse
must not know, so they render as placeholders that `pages.py` resolves per page.
"""

from __future__ import annotations

import json
import re
from collections.abc import MutableMapping
from functools import lru_cache
from html import escape
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.footnote import footnote_plugin

from coachgen import i18n
from coachgen.parse import tasks
from coachgen.slug import slugify

# ---------------------------------------------------------------- placeholders

PLACEHOLDER = re.compile(r"\x00([A-Z])(\{[^\x00]*\})\x00")


def placeholder(kind: str, **payload: object) -> str:
    """A marker in rendered HTML for what only the page can resolve (links, embeds, images).

    Notes never contain NUL (the parser replaces it), and the JSON escapes it, so a marker
    cannot be forged by note text.
    """
    return f"\x00{kind}{json.dumps(payload, sort_keys=True)}\x00"


# ---------------------------------------------------------------- comments

_OPENERS = {"%%": "%%", "<!--": "-->"}
_MAX_PARSES = 200
"""Block parses one note's comments may take; past them the rest of the note is withheld."""
_MAY_BE_CODE = re.compile(r"```|~~~|\t| {4}")
"""Code needs a fence or an indentation: without them a note's comments go without a parse."""
_LEAD = re.compile(r"[ \t>*+\-0-9.)]*")
"""What may come before a line's content: indentation, quote and list markers."""


def _normalize(text: str) -> str:
    """Line breaks and NUL as markdown-it's `normalize` makes them, so line numbers agree."""
    return re.sub(r"\r\n?", "\n", text).replace("\0", "\ufffd")


def _code_lines(md: MarkdownIt, lines: list[str]) -> tuple[frozenset[int], frozenset[int]]:
    """The lines markdown-it's own block parser shows as code: indented code, and a fence's
    content and closing line (not its opening line, whose info string is no code). And the
    lines of fences, opening lines included."""
    code: set[int] = set()
    fenced: set[int] = set()
    for tok in md.block.parse("\n".join(lines), md, {}, []) or []:
        if tok.map and tok.type == "code_block":
            code.update(range(*tok.map))
        elif tok.map and tok.type == "fence":
            code.update(range(tok.map[0] + 1, tok.map[1]))
            fenced.update(range(*tok.map))
    return frozenset(code), frozenset(fenced)


def strip_comments(text: str, md: MarkdownIt, code_spans: bool = True) -> str:
    """Remove `%% comments %%` and `<!-- comments -->`, inline or over lines, but not in code.

    A line's comments stay only where the line, as written, is code to markdown-it given the
    lines above it as published (comments gone). The parser decides, not a guess: a guess
    that a fence runs on where the parser ends it with its list item published the comments
    after it. Deciding a line at a time would take a parse a line, so the decisions are
    guessed from one parse and checked against the parse of the result; the first wrong one
    is put right and the rest guessed again, until none is wrong (each round settles at least
    one more line). Past `_MAX_PARSES`, the rest of the note is withheld: it fails closed.

    Line breaks inside a comment are kept so that line numbers still match the file. A
    comment that is never closed runs to the end of the note, as in Obsidian. Within a line,
    `code spans` keep their markers unless `code_spans` is False.
    """
    if "%%" not in text and "<!--" not in text:
        return text
    raw = _normalize(text).split("\n")
    out = _strip(raw, frozenset(), code_spans)[0]
    if not (_MAY_BE_CODE.search(text) or _MAY_BE_CODE.search("\n".join(out))):
        return "\n".join(out)  # no fence, no indentation, as written or published: no code to parse for
    parses = 1
    guess = _code_lines(md, raw)[0]  # what is code while the comments are still there
    settled = 0  # decisions on lines before this one are right
    while True:
        out, decided = _strip(raw, guess, code_spans)
        code, fenced = _code_lines(md, out)
        parses += 1
        wrong = None
        for k in (k for k in decided if k >= settled):
            if parses >= _MAX_PARSES:  # pathological: withhold what is not settled
                return "\n".join(out[:k] + [""] * (len(raw) - k))
            lead = raw[k][: _first_marker(raw[k])]
            if k in guess:  # kept as written: the parse of the result says if it is code
                right = k in code
            elif not _LEAD.fullmatch(lead):
                right = k not in code  # text before the comment: written and published, the line is alike
            elif k in code or k - 1 in fenced or "    " in lead or "\t" in lead:
                # the comment starts the line's content: as written it may be code where the
                # stripped line is not (or not where it is); parse it as written
                right = k not in _code_lines(md, out[:k] + [raw[k]])[0]
                parses += 1
            else:
                right = True  # no fence open above it, not indented: no code as written either
            if not right:
                wrong = k
                break
        if wrong is None:
            return "\n".join(out)
        # lines before `wrong` are right; from it on, guess again from what is published above it
        again = _code_lines(md, out[:wrong] + raw[wrong:])[0]
        parses += 1
        guess = frozenset(i for i in guess if i < wrong) | frozenset(i for i in again if i >= wrong)
        settled = wrong + 1


def _first_marker(line: str) -> int:
    return min(i for i in (line.find("%%"), line.find("<!--")) if i >= 0)


def _strip(raw: list[str], code: frozenset[int], code_spans: bool) -> tuple[list[str], list[int]]:
    """Comments removed on every line but those in `code` (a comment already open runs on).
    Also the lines where that choice mattered: holding a marker, not inside a comment."""
    out: list[str] = []
    decided: list[int] = []
    closer: str | None = None
    for i, line in enumerate(raw):
        if closer is None:
            if "%%" not in line and "<!--" not in line:
                out.append(line)
                continue
            decided.append(i)
            if i in code:
                out.append(line)
                continue
        kept, closer = _strip_line(line, closer, code_spans)
        out.append(kept)
    return out, decided


def _strip_line(line: str, closer: str | None, code_spans: bool = True) -> tuple[str, str | None]:
    buf: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if closer is not None:
            end = line.find(closer, i)
            if end < 0:
                return "".join(buf), closer
            i, closer = end + len(closer), None
            continue
        ch = line[i]
        if ch == "\\" and i + 1 < n:  # an escaped character is text, never the start of code
            buf.append(line[i : i + 2])
            i += 2
            continue
        if ch == "`" and code_spans:  # an inline code span is kept as written, comment markers and all
            run = len(line) - i - len(line[i:].lstrip("`"))
            closing = re.compile(r"(?<!`)`{%d}(?!`)" % run).search(line, i + run)
            stop = closing.end() if closing else i + run
            buf.append(line[i:stop])
            i = stop
            continue
        for opener, close in _OPENERS.items():
            if line.startswith(opener, i):
                closer = close
                i += len(opener)
                break
        else:
            buf.append(ch)
            i += 1
    return "".join(buf), closer


_CODE_TOKENS = {"code_inline", "code_block", "fence"}


def _marker_outside_code(tokens: list[Token]) -> bool:
    """Whether a comment marker survives anywhere but in code: in text, raw HTML, a URL
    (percent-encoded there), a title, a wikilink's target or a fence's info string."""
    for tok in tokens:
        texts = [tok.info, *map(str, tok.attrs.values()), *(v for v in tok.meta.values() if isinstance(v, str))]
        if tok.type not in _CODE_TOKENS and not tok.children:  # a parent's text is its children's
            texts.append(tok.content)
        for t in texts:
            if any(m in t or m in unquote(t) for m in _OPENERS):
                return True
        if tok.children and _marker_outside_code(tok.children):
            return True
    return False


# ---------------------------------------------------------------- callouts

_CALLOUT = re.compile(r"\[!([A-Za-z0-9_-]+)\]([+-]?)[ \t]*(.*)")
HIDDEN_CALLOUTS = {"private", "coach"}


def _matching_close(tokens: list[Token], i: int) -> int:
    opener = tokens[i]
    close_type = opener.type.replace("_open", "_close")
    for j in range(i + 1, len(tokens)):
        if tokens[j].type == close_type and tokens[j].level == opener.level:
            return j
    return len(tokens) - 1


def _forget_references(env: MutableMapping, span: list[int] | None) -> None:
    """Link definitions written inside a removed callout must not resolve links outside it."""
    if not span:
        return
    refs = env.get("references", {})
    for label in [k for k, v in refs.items() if v.get("map") and span[0] <= v["map"][0] < span[1]]:
        del refs[label]


def callouts(state: StateCore) -> None:
    """`> [!type] Title` blockquotes become callouts; `[!private]`/`[!coach]` vanish whole."""
    tokens = state.tokens
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type != "blockquote_open" or i + 2 >= len(tokens):
            i += 1
            continue
        para, inline = tokens[i + 1], tokens[i + 2]
        m = _CALLOUT.match(inline.content) if para.type == "paragraph_open" and inline.type == "inline" else None
        if not m:
            i += 1
            continue
        kind, fold, title = m.group(1).lower(), m.group(2), m.group(3).strip()
        close = _matching_close(tokens, i)
        if kind in HIDDEN_CALLOUTS:
            _forget_references(state.env, tok.map)
            del tokens[i : close + 1]
            continue
        tag = "details" if fold else "div"
        tok.tag = tokens[close].tag = tag
        tok.attrs = {"class": f"callout callout-{slugify(kind) or 'note'}"}
        if fold == "+":
            tok.attrs["open"] = ""
        tok.meta = {"callout": kind, "title": title}
        rest = inline.content.split("\n", 1)[1] if "\n" in inline.content else ""
        title_open = Token("callout_title_open", "summary" if fold else "p", 1, attrs={"class": "callout-title"})
        title_inline = Token("inline", "", 0, content=title or kind.capitalize(), children=[], map=inline.map)
        title_close = Token("callout_title_close", "summary" if fold else "p", -1)
        for t in (title_open, title_inline, title_close):
            t.level = tok.level + 1
            t.block = True
        if rest.strip():
            inline.content = rest
            if inline.map:  # the body starts a line below the title: its lines stay right
                inline.map = [inline.map[0] + 1, inline.map[1]]
            tokens[i + 1 : i + 1] = [title_open, title_inline, title_close]
        else:
            tokens[i + 1 : i + 4] = [title_open, title_inline, title_close]
        i += 1


def _plain_text(children: list[Token] | None) -> str:
    parts: list[str] = []
    for child in children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "wikilink":
            parts.append(child.meta["alias"] or child.meta["target"])
        elif child.type == "tag":
            parts.append("#" + child.content)
        elif child.children:
            parts.append(_plain_text(child.children))
    return "".join(parts)


def collect_insights(state: StateCore) -> None:
    """An `[!insight]` callout's body, as plain text, is an insight (its title when empty)."""
    tokens = state.tokens
    for i, tok in enumerate(tokens):
        if tok.type != "blockquote_open" or tok.meta.get("callout") != "insight":
            continue
        close = _matching_close(tokens, i)
        body = [t for t in tokens[i + 4 : close] if t.type == "inline"]
        text = " ".join(" ".join(_plain_text(t.children).split()) for t in body).strip()
        line = tok.map[0] if tok.map else 0
        state.env["insights"].append((text or tok.meta["title"], line))


# ---------------------------------------------------------------- task lines

_TASK = re.compile(r"\[([ xX-])\][ \t]+(\S.*)", re.DOTALL)
_STATUS = {" ": "open", "x": "done", "X": "done", "-": "cancelled"}


def task_lines(state: StateCore) -> None:
    """`- [ ]`, `- [x]`, `- [-]` list items are actions; their signifiers leave the shown text."""
    tokens = state.tokens
    for i in range(len(tokens) - 2):
        item, para, inline = tokens[i], tokens[i + 1], tokens[i + 2]
        if item.type != "list_item_open" or para.type != "paragraph_open" or inline.type != "inline":
            continue
        m = _TASK.match(inline.content)
        if not m:
            continue
        status = _STATUS[m.group(1)]
        first, _, more = m.group(2).partition("\n")
        parsed = tasks.parse(first)
        if not parsed.text and not parsed.id:
            continue
        state.env["tasks"].append((status, parsed, inline.map[0] if inline.map else 0))
        inline.content = parsed.text + ("\n" + more if more else "")
        # The page shows the action as it stands at the build's today (a later note may have
        # ticked it): the box, the item's class and the due date are placeholders that carry
        # the action's identity as the model finds it (id, else folded text) and, for an
        # action the model does not know, the line as written.
        task = {"id": parsed.id, "key": tasks.identity(parsed.text), "status": status,
                "due": parsed.due.isoformat() if parsed.due else None}
        item.meta["task"] = inline.meta["task"] = task
        if more.strip():  # words under the task line are the coach's own text
            inline.meta["more"] = True


# ---------------------------------------------------------------- first heading


def take_title(state: StateCore) -> None:
    """Where the front-matter has no title, the first level-1 heading is the title."""
    if not state.env.get("take_h1"):
        return
    tokens = state.tokens
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.tag == "h1" and tok.level == 0:
            state.env["h1"] = " ".join(_plain_text(tokens[i + 1].children).split())
            del tokens[i : i + 3]
            return


# ---------------------------------------------------------------- empty headings


def _heading_rank(tok: Token) -> int:
    return int(tok.tag[1])


def empty_headings(state: StateCore) -> None:
    """A heading with nothing under it (comments and hidden callouts are gone by now) is not
    published: its section ends at the next heading of the same or a higher rank, at the
    end of its container (a quote, a list item) or of the note. From the last heading up,
    so that a heading whose only content was empty sub-headings goes too."""
    tokens = state.tokens
    for i in range(len(tokens) - 1, -1, -1):
        tok = tokens[i]
        if tok.type != "heading_open":
            continue
        after = tokens[i + 3] if i + 3 < len(tokens) else None
        if (after is None or after.nesting == -1
                or (after.type == "heading_open" and _heading_rank(after) <= _heading_rank(tok))):
            del tokens[i : i + 3]


def find_prose(state: StateCore) -> None:
    """Whether the note shows anything but headings and task lines (`env["prose"]`): a note
    `coachgen new session` prepared holds only those until the coach writes in it."""
    tokens = state.tokens
    for i, tok in enumerate(tokens):
        if tok.type in ("fence", "code_block", "html_block", "hr"):
            break
        if tok.type != "inline" or (i > 0 and tokens[i - 1].type == "heading_open"):
            continue
        if (tok.meta.get("task") is None and tok.content.strip()) or tok.meta.get("more"):
            break
    else:
        return
    state.env["prose"] = True


def embed_lines(state: StateCore) -> None:
    """Each embed and image knows its line in the file, for a warning when its file is missing."""
    first = state.env.get("first_line", 0)
    for tok in state.tokens:
        if tok.type != "inline" or not tok.map:
            continue
        line = first + tok.map[0] + 1
        for child in tok.children or []:
            if child.type in ("softbreak", "hardbreak"):
                line += 1
            elif child.type in ("wikilink", "image"):
                child.meta["line"] = line


# ---------------------------------------------------------------- inline rules


def wikilink(state: StateInline, silent: bool) -> bool:
    """`[[Note]]`, `[[Note|alias]]`, `[[Note#Heading]]`, and embeds `![[file.png|300]]`."""
    src, pos = state.src, state.pos
    embed = src.startswith("![[", pos)
    if not embed and not src.startswith("[[", pos):
        return False
    start = pos + (3 if embed else 2)
    end = src.find("]]", start, state.posMax)
    if end < 0:
        return False
    inner = src[start:end]
    if not inner.strip() or "\n" in inner or "[[" in inner:
        return False
    if not silent:
        target, _, alias = inner.replace("\\|", "|").partition("|")
        target, _, heading = target.partition("#")
        token = state.push("wikilink", "", 0)
        token.meta = {"target": target.strip(), "heading": heading.strip(), "alias": alias.strip(), "embed": embed}
    state.pos = end + 2
    return True


def highlight(state: StateInline, silent: bool) -> bool:
    """`==highlight==` -> <mark>."""
    src, start = state.src, state.pos
    if not src.startswith("==", start):
        return False
    end = src.find("==", start + 2, state.posMax)
    if end <= start + 2 or src[start + 2].isspace() or src[end - 1].isspace():
        return False
    if not silent:
        old_max = state.posMax
        state.pos, state.posMax = start + 2, end
        state.push("mark_open", "mark", 1)
        state.md.inline.tokenize(state)
        state.push("mark_close", "mark", -1)
        state.posMax = old_max
    state.pos = end + 2
    return True


_TAG = re.compile(r"#([\w/-]*[^\W\d_][\w/-]*)")


def hashtag(state: StateInline, silent: bool) -> bool:
    """`#tag` after white space (a heading's `#` never reaches the inline parser)."""
    pos = state.pos
    if state.src[pos] != "#" or (pos > 0 and not state.src[pos - 1].isspace()):
        return False
    m = _TAG.match(state.src, pos, state.posMax)
    if not m:
        return False
    if not silent:
        state.push("tag", "", 0).content = m.group(1)
    state.pos = m.end()
    return True


# ---------------------------------------------------------------- renderers


def _render_wikilink(self, tokens, idx, options, env) -> str:
    meta = tokens[idx].meta
    if meta["embed"]:
        return placeholder("E", line=meta.get("line", 1), **{k: meta[k] for k in ("target", "heading", "alias")})
    return placeholder("L", **{k: meta[k] for k in ("target", "heading", "alias")})


def _render_image(self, tokens, idx, options, env) -> str:
    tok = tokens[idx]
    src = tok.attrGet("src") or ""
    alt = self.renderInlineAsText(tok.children or [], options, env)
    if re.match(r"[a-z][a-z0-9+.-]*:", src, re.I):  # from the web: a link, never loaded
        return f'<a class="external" href="{escapeHtml(src)}" rel="noopener noreferrer">{escapeHtml(alt or src)}</a>'
    return placeholder("I", src=src, alt=alt, line=tok.meta.get("line", 1))


def _is_local(href: str) -> bool:
    return not href.startswith("#") and not re.match(r"[a-z][a-z0-9+.-]*:", href, re.I)


def _render_link_open(self, tokens, idx, options, env) -> str:
    href = tokens[idx].attrGet("href") or ""
    if _is_local(href):
        return placeholder("A", href=href)
    if not href.startswith("#"):
        tokens[idx].attrs["rel"] = "noopener noreferrer"
    return self.renderToken(tokens, idx, options, env)


def _render_link_close(self, tokens, idx, options, env) -> str:
    for j in range(idx - 1, -1, -1):
        if tokens[j].type == "link_open":
            href = tokens[j].attrGet("href") or ""
            return placeholder("Z", href=href) if _is_local(href) else "</a>"
    return "</a>"


def _render_tag(self, tokens, idx, options, env) -> str:
    return f'<span class="tag">#{escapeHtml(tokens[idx].content)}</span>'


def _box_label(status: str, lang: i18n.Language) -> str:
    """A task box's name for a screen reader: the action's status, in the page's language."""
    # one action's status ("one action"), which many languages write unlike a list's heading
    labels = {"open": lang.pgettext("one action", "Open"), "overdue": lang.pgettext("one action", "Overdue"),
              "done": lang.pgettext("one action", "Done"), "cancelled": lang.pgettext("one action", "Cancelled")}
    return labels[status]


def task_prefix(status: str, lang: i18n.Language | None = None) -> str:
    label = escape(_box_label(status, lang or i18n.language()))
    return f'<span class="task-box task-box-{status}" role="img" aria-label="{label}"></span>'


def task_due(due, lang: i18n.Language | None = None) -> str:
    """A task line's due date, after its text, as the page's language writes a date."""
    shown = escape((lang or i18n.language()).day(due))
    return f' <time class="due" datetime="{due.isoformat()}">{shown}</time>'


def _render_list_item_open(self, tokens, idx, options, env) -> str:
    """A task line's `<li>` is the page's to write: its class says the action's status."""
    task = tokens[idx].meta.get("task")
    if task is None:
        return self.renderToken(tokens, idx, options, env)
    newline = "\n" if self.renderToken(tokens, idx, options, env).endswith("\n") else ""
    return placeholder("T", part="item", **task) + newline


def _validate_link(url: str) -> bool:
    """No `javascript:`, `vbscript:`, `file:` or `data:` links, however they are spelled."""
    cleaned = re.sub(r"[\x00-\x20]", "", url).lower()
    return not re.match(r"(javascript|vbscript|file|data):", cleaned)


@lru_cache(maxsize=2)
def parser(allow_html: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": allow_html, "breaks": True, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = _validate_link  # type: ignore[method-assign]  # markdown-it-py's documented override
    md.use(footnote_plugin)
    md.use(anchors_plugin, min_level=1, max_level=6, slug_func=lambda s: "h-" + (slugify(s) or "section"))
    md.inline.ruler.before("link", "wikilink", wikilink)
    md.inline.ruler.before("emphasis", "highlight", highlight)
    md.inline.ruler.before("emphasis", "hashtag", hashtag)
    md.core.ruler.after("block", "callouts", callouts)
    md.core.ruler.after("callouts", "task_lines", task_lines)
    md.core.ruler.after("inline", "collect_insights", collect_insights)
    md.core.ruler.after("collect_insights", "take_title", take_title)
    md.core.ruler.after("take_title", "empty_headings", empty_headings)
    md.core.ruler.after("empty_headings", "find_prose", find_prose)
    md.core.ruler.after("find_prose", "embed_lines", embed_lines)
    md.add_render_rule("wikilink", _render_wikilink)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("link_close", _render_link_close)
    md.add_render_rule("tag", _render_tag)
    md.add_render_rule("list_item_open", _render_list_item_open)
    return md


def render(md: MarkdownIt, tokens: list[Token], env: dict) -> str:
    """HTML for the tokens, with placeholders for each task line's box and due date around
    its text (the page fills them in from the action as it stands)."""
    for tok in tokens:
        task = tok.meta.get("task") if tok.type == "inline" else None
        if task is not None and not tok.meta.get("boxed"):
            assert tok.children is not None  # an inline token has its children
            tok.meta["boxed"] = True
            tok.children.insert(0, Token("html_inline", "", 0, content=placeholder("T", part="box", **task)))
            tok.children.append(Token("html_inline", "", 0, content=placeholder("T", part="due", **task)))
    return md.renderer.render(tokens, md.options, env)


def parse(text: str, allow_html: bool, take_h1: bool, first_line: int = 0) -> tuple[str, dict]:
    """Body Markdown -> (HTML with placeholders, env with tasks, insights, the h1 title and
    whether it has `prose`). `first_line`: the lines of the file before the body."""
    md = parser(allow_html)
    stripped = strip_comments(text, md)
    fresh = lambda: {"tasks": [], "insights": [], "take_h1": take_h1, "prose": False, "first_line": first_line}  # noqa: E731
    env = fresh()
    tokens = md.parse(stripped, env)
    if ("%%" in stripped or "<!--" in stripped) and _marker_outside_code(tokens):
        # a code span kept as one is none to the parser (an autolink or an HTML tag took its
        # backtick): fail closed, remove comments from code spans too
        env = fresh()
        tokens = md.parse(strip_comments(text, md, code_spans=False), env)
    return render(md, tokens, env), env
