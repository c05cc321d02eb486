"""The API a quoted sentence describes, named by the heading it sits under, as a label on the claim.

Reference text files a description under the name it describes: "Return an accurate floating point
sum of values in the iterable." sits under the heading `fsum(seq, /)` of "Python stdlib: math" and
never says `fsum` itself. Quoted alone, the claim answers "how do I add floats exactly" without
naming what to call. A claim therefore carries the name of its section as a label,
"`math.fsum()`: Return an accurate ...": the quote stays verbatim, and the label holds only names
that the cited source's title, heading or text spell, which the citation check verifies. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from contracts.work import CLAIM_LABEL
from services.analyst.domain.text import is_claim_sentence, listed_lines, split_sentences

_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
# A signature heading: "fsum(seq, /)", "class attrgetter", "TextWrapper.wrap(self, text): ...".
_SIGNATURE = re.compile(rf"^(?P<cls>class\s+)?(?P<name>{_DOTTED})(?P<call>\()?")
# Spelled like code, not like a word: dotted ("os.path"), snake_case, _private, or CamelCase inside ("DictReader").
# A member's entry opening a prose sentence: "JSONDecoder.raw_decode(self, s, idx=0): Decode ...".
_ENTRY = re.compile(rf"^{_DOTTED}\((?:[^()]|\([^()]*\))*\):\s")
# A member's line in a docstring's summary list: "date.fromisoformat: str -> Construct a date ...":
# the name it declares, and the description after its signature.
_MEMBER_LINE = re.compile(rf"^(?P<name>{_DOTTED}\.[A-Za-z_]\w*):\s+(?P<sig>[^>]*->\s*)?(?P<what>[A-Z][^>]*)$")
_MEMBER_HEAD = re.compile(rf"^(?P<name>{_DOTTED}\.[A-Za-z_]\w*):(?P<sig>\s+[^>]*->)?$")
# A line of a docstring's summary list, "getsizeof() -- return the size of an object in bytes": the
# name it declares, then what the member does.
# The name must be spelled as code: called ("getsizeof()"), with an underscore ("__displayhook__") or
# dotted; a plain word before "--" ("maxsize -- ...") may as well be prose.
_LISTED_NAME = r"(?:[A-Za-z_][\w.]*\(\)|[A-Za-z]*_[\w.]*|[A-Za-z_]\w*\.[\w.]+)"
_DASH_LINE = re.compile(rf"^(?={_LISTED_NAME}\s)(?P<name>{_DOTTED})(?P<call>\(\))?\s+--\s+(?P<what>\w.*)$")
_DASH_HEAD = re.compile(rf"^(?={_LISTED_NAME}\s)(?P<name>{_DOTTED})(?P<call>\(\))?\s+--$")
# A plain word before "--": the list's entry for something not spelled as code, or prose. Either way
# it is not about the member listed above it.
_PLAIN_DASH = re.compile(r"^[A-Za-z_]\w*\s+--\s+\S")
_CODE_SPELLING = re.compile(r"^(?:\w+\.\w[\w.]*|\w*[a-z0-9]_\w*|_\w+|[A-Za-z]\w*[a-z0-9][A-Z]\w*)$")
_LOCATION = re.compile(r"^§\s*(?P<heading>.+?),\s*part\s+\d+$")
# "Python stdlib: json", "Module: json": the module a page documents, after a colon, when the title
# says it documents a library ("Python reference: typesseq" names a topic, not something to import).
_TITLE_MODULE = re.compile(
    r"\b(?:stdlib|library|module|package|api)\b[^:]*:\s*(?P<module>[a-z_]\w*(?:\.[a-z_]\w*)*)\s*$", re.I
)
_WORD_EDGE = r"(?<![\w]){}(?![\w])"


def heading_name(line: str, *, formal: bool = False, module: str | None = None) -> tuple[str, bool] | None:
    """The name a heading line declares and whether it is callable: `("fsum", True)` for
    "fsum(seq, /)", `("attrgetter", False)` for "class attrgetter"; None for prose. A bare name
    counts only as a `formal` heading (the section's own), and only when it is the `module` the
    source documents ("textwrap") or spelled like no English word ("os.path", "DictReader"):
    "overview" heads a section of prose."""
    text = line.strip()
    found = _SIGNATURE.match(text)
    if found is None:
        return None
    name = found.group("name")
    if found.group("call"):
        return name, not found.group("cls")
    rest = text[found.end() :].strip()
    if found.group("cls") and not rest:
        return name, False
    if formal and not rest and (name == module or _CODE_SPELLING.match(name)):
        return name, False
    return None


def location_heading(location: str) -> str:
    """The section heading a chunk's location names ("§ fsum(seq, /), part 12" gives "fsum(seq, /)")."""
    found = _LOCATION.match(location.strip())
    return found.group("heading") if found else ""


def _qualified(name: str, module: str | None) -> str:
    if module is None or name == module or name.startswith(module + "."):
        return name
    return f"{module}.{name}"


class Entry(NamedTuple):
    """A sentence of a passage, its label, its entry's number, and the API whose entry holds it,
    labelled or not: "Class decorator for enumerations ensuring unique member values." says
    "unique" itself, so it carries no label, yet it describes `enum.unique()`."""

    sentence: str
    label: str | None
    entry: int
    api: str | None


def sentence_labels(text: str, title: str, location: str) -> Iterator[tuple[str, str | None]]:
    """Each sentence of a passage (as `split_sentences` gives them) with the label of the name it
    sits under, or None: under no code heading, a heading line itself, or naming the API already."""
    for found in labelled_entries(text, title, location):
        yield found.sentence, found.label


def labelled_entries(text: str, title: str, location: str) -> Iterator[Entry]:
    """`sentence_labels` with each sentence's entry: a heading line and what follows it up to the
    next heading line count as one (0 for what precedes the first)."""
    entry = 0
    module_match = _TITLE_MODULE.search(title)
    module = module_match.group("module") if module_match else None
    current = heading_name(location_heading(location), formal=True, module=module)
    listed = {line.split(" -- ", 1)[0] for line in listed_lines(text)}
    for sentence in _member_lines(split_sentences(text), listed):
        in_list = _in_list(sentence, listed)
        describes = is_claim_sentence(sentence)
        if describes:
            declared = heading_name(sentence) if _ENTRY.match(sentence) else None
        else:
            declared = heading_name(sentence, formal=True, module=module)
        head = _MEMBER_HEAD.match(sentence)
        if declared is None and head is not None:
            declared = head.group("name"), bool(head.group("sig"))
        dash = _DASH_HEAD.match(sentence) if in_list else None
        if dash is not None:
            declared = dash.group("name"), bool(dash.group("call"))
        elif in_list and _PLAIN_DASH.match(sentence):
            current, entry = None, entry + 1
        if declared is not None:
            # A heading line, or a member's entry opening on its own signature ("JSONDecoder.raw_decode(self, s):
            # Decode ..."): it names its API itself, and what follows describes that API. A bare
            # heading line describes nothing; a description on the signature's own line is the entry's.
            current = declared
            entry += 1
            own = _api(_qualified(declared[0], module), declared[1]) if describes else None
            yield Entry(sentence, None, entry, own)
            continue
        if current is None:
            yield Entry(sentence, None, entry, None)
            continue
        name, callable_ = current
        qualified = _qualified(name, module)
        api = _api(qualified, callable_)
        said = qualified if qualified != name else name.rsplit(".", 1)[-1]
        if re.search(_WORD_EDGE.format(re.escape(said)), sentence):
            yield Entry(sentence, None, entry, api)  # the sentence names it itself
            continue
        yield Entry(sentence, api, entry, api)


def _api(qualified: str, callable_: bool) -> str:
    return f"`{qualified}{'()' if callable_ else ''}`"


def labelled(label: str | None, sentence: str) -> str:
    """A claim's text: the quoted sentence, after its label when it has one."""
    return f"{label}: {sentence}" if label else sentence


def split_label(claim: str) -> tuple[str | None, str]:
    """The name a claim is labelled with (None when unlabelled) and the quote that follows it."""
    found = CLAIM_LABEL.match(claim.strip())
    if found is None:
        return None, claim
    return found.group("name"), found.group("quote")


def label_backed(name: str, *texts: str) -> bool:
    """Whether the source spells every part of the label's dotted name (`math`, `fsum`) as a word."""
    joined = "\n".join(texts)
    return all(re.search(_WORD_EDGE.format(re.escape(part)), joined) for part in name.split("."))


def lists_member(sentence: str) -> bool:
    """Whether the sentence is a summary list's name ("getsizeof() --"), before what the member does."""
    return _DASH_HEAD.match(sentence) is not None


def _in_list(sentence: str, listed: set[str]) -> bool:
    """Whether the sentence opens a summary list's line (`text.listed_lines`), or is the name that
    opens one: `listed` holds the lines' names ("getsizeof()")."""
    name = sentence[:-3] if sentence.endswith(" --") else sentence.split(" -- ", 1)[0]
    return name in listed


def _member_lines(sentences: list[str], listed: set[str]) -> Iterator[str]:
    """Each sentence, a member's summary line cut in two: the name and signature, which declare the
    member, and its description, a sentence of its own ("Construct a date from a string ...")."""
    for sentence in sentences:
        member = _MEMBER_LINE.match(sentence) or (_DASH_LINE.match(sentence) if _in_list(sentence, listed) else None)
        if member is None:
            yield sentence
            continue
        cut = member.start("what")
        yield sentence[:cut].rstrip()
        yield sentence[cut:]
