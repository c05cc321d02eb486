"""The shipped sample corpus (Python's own reference text) and plain-text conversion of uploads."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from types import ModuleType
from typing import Literal

from services.retriever.domain import spans

ContentType = Literal["text/plain", "text/markdown", "text/html"]


@dataclass(frozen=True, slots=True)
class Document:
    """One whole source before chunking."""

    doc_id: str
    title: str
    text: str
    content_type: str = "text/plain"


# Chosen for substantial docstrings. Deliberately absent: modules that act on import (`this`,
# `antigravity`), GUI toolkits (tkinter, turtle, idlelib) and anything deprecated or platform-only.
STDLIB_MODULES: tuple[str, ...] = (
    "abc", "argparse", "array", "ast", "asyncio", "base64", "binascii", "bisect", "builtins", "bz2",
    "calendar", "cmath", "codecs", "collections", "collections.abc", "colorsys",
    "concurrent.futures", "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime",
    "decimal", "difflib", "dis", "doctest", "email", "email.message", "enum", "filecmp", "fnmatch",
    "fractions", "ftplib", "functools", "gc", "gettext", "glob", "graphlib", "gzip", "hashlib",
    "heapq", "hmac", "html", "html.parser", "http", "http.client", "http.cookies", "http.server",
    "imaplib", "importlib", "inspect", "io", "ipaddress", "itertools", "json", "keyword",
    "linecache", "locale", "logging", "logging.handlers", "lzma", "math", "mimetypes",
    "multiprocessing", "numbers", "operator", "os", "pathlib", "pdb", "pickle", "pkgutil",
    "platform", "pprint", "queue", "random", "re", "sched", "secrets", "select", "selectors",
    "shelve", "shlex", "shutil", "signal", "smtplib", "socket", "sqlite3", "ssl", "statistics",
    "string", "struct", "subprocess", "sys", "tarfile", "tempfile", "textwrap", "threading", "time",
    "timeit", "tokenize", "tomllib", "traceback", "types", "typing", "unicodedata", "unittest",
    "urllib.parse", "urllib.request", "uuid", "warnings", "weakref", "xml.dom.minidom",
    "xml.etree.ElementTree", "zipfile", "zlib", "zoneinfo",
)  # fmt: skip

# Reprs of default values can embed memory addresses, which would make the corpus text (and so
# the indexed vectors) differ from one process to the next.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def sample_corpus(modules: Sequence[str] = STDLIB_MODULES) -> list[Document]:
    """Every pydoc reference topic, then one document per importable module of `modules`."""
    documents = reference_topics()
    for name in modules:
        document = module_document(name)
        if document is not None:
            documents.append(document)
    return documents


def reference_topics() -> list[Document]:
    """One document per topic of the language reference that `help()` serves."""
    from pydoc_data.topics import topics

    return [
        Document(
            doc_id=f"pydoc:topic:{name}",
            title=f"Python reference: {name}",
            text=to_text(topics[name], "text/plain"),
        )
        for name in sorted(topics)
    ]


def module_document(name: str) -> Document | None:
    """The docstrings of a module and its public classes and functions, or None if it won't import."""
    try:
        module = importlib.import_module(name)
    except Exception:  # noqa: BLE001 - an extension missing from this build (e.g. _ssl) only drops one module
        return None
    parts = [_heading(name, "="), _docstring(module)]
    for attr, obj in _public_members(module):
        if inspect.isclass(obj):
            parts.append(_class_section(attr, obj))
        else:
            parts.append(_heading(f"{attr}{_signature(obj)}", "-") + "\n" + _docstring(obj))
    text = "\n\n".join(part for part in parts if part.strip())
    return Document(doc_id=f"pydoc:module:{name}", title=f"Python stdlib: {name}", text=to_text(text, "text/plain"))


def _public_members(module: ModuleType) -> Iterator[tuple[str, object]]:
    declared = getattr(module, "__all__", None)
    if isinstance(declared, list | tuple) and all(isinstance(n, str) for n in declared):
        names: list[str] = list(declared)
        own = None  # `__all__` is the module's own statement of what it exports, re-exports included
    else:
        names = sorted(n for n in vars(module) if not n.startswith("_"))
        own = {module.__name__, "_" + module.__name__}
    seen: set[int] = set()
    for attr in names:
        obj = getattr(module, attr, None)
        if not (inspect.isclass(obj) or inspect.isroutine(obj)) or id(obj) in seen:
            continue
        origin = getattr(obj, "__module__", None) or ""
        if own is not None and origin not in own and not origin.startswith(module.__name__ + "."):
            continue  # imported from elsewhere, e.g. `Path` in a module that merely uses it
        if not _docstring(obj):
            continue
        seen.add(id(obj))
        yield attr, obj


def _class_section(name: str, cls: type) -> str:
    lines = [_heading(f"class {name}{_signature(cls)}", "-"), _docstring(cls)]
    for attr, raw in vars(cls).items():
        if attr.startswith("_"):
            continue
        member = raw if isinstance(raw, property) else getattr(cls, attr, None)
        if not (isinstance(member, property) or inspect.isroutine(member)):
            continue
        doc = _docstring(member)
        if doc:
            signature = "" if isinstance(member, property) else _signature(member)
            lines.append(f"{name}.{attr}{signature}:\n{_indent(doc)}")
    return "\n\n".join(line for line in lines if line)


def _heading(text: str, underline: str) -> str:
    return f"{text}\n{underline * max(len(text), 3)}"


def _docstring(obj: object) -> str:
    doc = getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _signature(obj: object) -> str:
    try:
        signature = str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    return _ADDRESS.sub("", signature)


def _indent(text: str) -> str:
    return "\n".join("   " + line if line else line for line in text.splitlines())


def to_text(content: str, content_type: ContentType) -> str:
    """Plain text of uploaded content; headings survive as lines the chunker recognises."""
    if content_type == "text/html":
        text = _html_to_text(content)
    elif content_type == "text/markdown":
        text = _markdown_to_text(content)
    elif content_type == "text/plain":
        text = content
    else:
        raise ValueError(f"unsupported content type {content_type!r}")
    return _tidy(text)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _tidy(text: str) -> str:
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- HTML -------------------------------------------------------------------------------------

_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object", "head"})
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "nav",
        "ol", "p", "pre", "section", "summary", "table", "tbody", "thead", "tfoot", "tr", "ul",
    }
)  # fmt: skip
_HEADINGS = {f"h{level}": level for level in range(1, 7)}


class _HtmlText(HTMLParser):
    """Collects readable text; headings become markdown-style `#` lines so the chunker sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip_depth = 0
        self._pre_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIPPED:
            self._skip_depth += 1
        elif tag in _HEADINGS:
            self._break(2)
            self.parts.append("#" * _HEADINGS[tag] + " ")
        elif tag == "br":
            self._break(1)
        elif tag in _BLOCKS:
            self._break(1 if tag in {"li", "tr", "dt", "dd"} else 2)
            if tag == "li":
                self.parts.append("- ")
            if tag == "pre":
                self._pre_depth += 1
        elif tag in {"td", "th"} and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _HEADINGS:
            self._break(2)
        elif tag in _BLOCKS:
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)
            self._break(1 if tag in {"li", "tr", "dt", "dd"} else 2)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._skip_depth:
            return
        if self._pre_depth:
            self.parts.append(data)
            return
        data = re.sub(r"\s+", " ", data)
        if not self.parts or self.parts[-1].endswith("\n"):
            data = data.lstrip()
        if data:
            self.parts.append(data)

    def _break(self, newlines: int) -> None:
        """End the current line, leaving at least `newlines` line breaks (not one per nested tag)."""
        if not self.parts:
            return
        self.parts[-1] = self.parts[-1].rstrip(" ")
        tail = "".join(self.parts[-3:])
        have = len(tail) - len(tail.rstrip("\n"))
        if have < newlines:
            self.parts.append("\n" * (newlines - have))

    def text(self) -> str:
        body = "".join(self.parts)
        title = " ".join(self.title.split())
        return f"# {title}\n\n{body}" if title and title not in body[:500] else body


def _html_to_text(content: str) -> str:
    parser = _HtmlText()
    parser.feed(content)
    parser.close()
    return parser.text()


# --- Markdown ---------------------------------------------------------------------------------

# Each is what a regular expression did (named in its docstring) in linear time: these lines are
# untrusted, and the expressions backtracked quadratically on unpaired marks.
_MD_INLINE: tuple[Callable[[str], str], ...] = (
    spans.drop_comments,
    spans.unwrap_images,  # an image becomes its alt text
    spans.unwrap_links,  # an inline link, its text
    spans.unwrap_reference_links,
    spans.unwrap_autolinks,
    spans.drop_tags,  # inline HTML
    spans.CODE.strip,
    # `__x__` is left alone: in this corpus it is nearly always a dunder name, not emphasis
    spans.BOLD.strip,
    spans.STRUCK.strip,
    spans.ITALIC.strip,
    # the word-boundary guards keep snake_case identifiers intact
    spans.UNDERSCORED.strip,
)
_MD_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_MD_LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+\S+")
_MD_TABLE_RULE = re.compile(r"^(?=.*\|)(?=.*---)[\s|:\-]+$")
# Backslash-escaped punctuation is parked in the private use area while the inline rules run, so
# that `\*` is never mistaken for emphasis, then restored as the bare character.
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
_PARK = 0xE000
_MD_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_MD_SETEXT = re.compile(r"^\s{0,3}([=-])\1*\s*$")


def _markdown_to_text(content: str) -> str:
    out: list[str] = []
    in_fence = False
    previous = before_previous = ""
    for line in content.replace("\r\n", "\n").split("\n"):
        if _MD_FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            out.append(line)  # code stays verbatim
            continue
        if _MD_LINK_DEFINITION.match(line) or _MD_TABLE_RULE.match(line):
            continue
        setext = _MD_SETEXT.match(line)
        if setext and previous.strip() and not before_previous.strip() and not previous.startswith("#"):
            # a one-line paragraph underlined is a heading; rewrite it the way the chunker reads best
            out[-1] = ("# " if setext.group(1) == "=" else "## ") + previous.strip()
            previous, before_previous = out[-1], previous
            continue
        if _MD_RULE.match(line):
            line = ""
        line = re.sub(r"^\s{0,3}(>\s?)+", "", line)
        line = _MD_ESCAPE.sub(lambda m: chr(_PARK + ord(m.group(1))), line)
        heading = spans.atx_heading(line, lazy_empty=True)
        if heading:
            line = f"{heading[0]} {heading[1]}"
        for rewrite in _MD_INLINE:
            line = rewrite(line)
        line = re.sub("[\ue000-\ue07f]", lambda m: chr(ord(m.group()) - _PARK), line)
        out.append(line)
        previous, before_previous = line, previous
    return "\n".join(out)
