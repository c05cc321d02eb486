"""Claims name the API their quote describes, from its heading, and the citation check holds them to it."""

from __future__ import annotations

from contracts.work import Claim, Draft, Passage, SourceRef, VerifyInput
from services.analyst.domain.naming import heading_name, label_backed, labelled_entries, sentence_labels, split_label
from services.analyst.domain.synthesis import check_citations
from services.analyst.domain.verify import support_score, verify
from tests.support.synthesis import synth

MATH = """fsum(seq, /)

Return an accurate floating point sum of values in the iterable. Assumes IEEE-754 floating point arithmetic.

JSONDecoder.raw_decode(self, s, idx=0): Decode a JSON document from s and return a 2-tuple. It stops early."""


def test_signature_and_class_headings_declare_names_and_prose_does_not() -> None:
    assert heading_name("fsum(seq, /)") == ("fsum", True)
    assert heading_name("class attrgetter") == ("attrgetter", False)
    assert heading_name("TextWrapper.wrap(self, text): wrap(text : string) -> [string]") == ("TextWrapper.wrap", True)
    assert heading_name("The with statement") is None
    assert heading_name("Same as abs(a).") is None


def test_a_bare_heading_names_code_only_when_it_is_the_module_or_spelled_as_code() -> None:
    assert heading_name("textwrap", formal=True, module="textwrap") == ("textwrap", False)
    assert heading_name("os.path", formal=True) == ("os.path", False)
    assert heading_name("overview", formal=True, module="raise") is None
    assert heading_name("Introduction", formal=True) is None
    assert heading_name("textwrap") is None  # a bare word inside a passage is no heading


def test_a_sentence_under_a_signature_is_labelled_with_the_qualified_name() -> None:
    labels = dict(sentence_labels(MATH, "Python stdlib: math", "§ fsum(seq, /), part 12"))
    assert labels["fsum(seq, /)"] is None
    assert labels["Return an accurate floating point sum of values in the iterable."] == "`math.fsum()`"
    assert labels["Assumes IEEE-754 floating point arithmetic."] == "`math.fsum()`"


def test_a_sentence_opening_on_its_own_signature_names_itself_and_heads_what_follows() -> None:
    labels = dict(sentence_labels(MATH, "Python stdlib: math", "§ fsum(seq, /), part 12"))
    assert labels["JSONDecoder.raw_decode(self, s, idx=0): Decode a JSON document from s and return a 2-tuple."] is None
    assert labels["It stops early."] == "`math.JSONDecoder.raw_decode()`"


def test_each_line_of_a_summary_list_declares_its_member_and_labels_what_it_does() -> None:
    text = (
        "Functions:\n\ngetrecursionlimit() -- return the max recursion depth for the interpreter\n"
        "getsizeof() -- return the size of an object in bytes\nmaxsize -- the largest supported length of containers"
    )
    labels = dict(sentence_labels(text, "Python stdlib: sys", "§ sys, part 3"))
    assert labels["getsizeof() --"] is None
    assert labels["return the size of an object in bytes"] == "`sys.getsizeof()`"
    assert labels["return the max recursion depth for the interpreter"] == "`sys.getrecursionlimit()`"
    # A plain word before "--" may be prose: "maxsize" declares nothing, nor is it getsizeof's.
    assert labels["maxsize -- the largest supported length of containers"] is None
    prose = dict(sentence_labels("Results\n\nNote -- the figures below are rounded.", "Notes", "part 1"))
    assert prose == {"Results": None, "Note -- the figures below are rounded.": None}
    # One such line alone is wrapped prose, not a list: it declares nothing and keeps the label.
    wrapped = (
        "Return an accurate sum. It keeps the attribute\nself._partials -- a list of floats -- summed at the end."
        " Beware -- rounding can differ. It tracks partial sums."
    )
    kept = dict(sentence_labels(wrapped, "Python stdlib: math", "§ fsum(iterable), part 1"))
    assert set(kept.values()) == {"`math.fsum()`"}, kept
    question = "How do I find the size of an object in bytes?"
    listing = Passage(source_id="doc:sys", title="Python stdlib: sys", location="§ sys, part 3", text=text)
    draft = synth(question, {question: [listing]})
    claims = [c.text for c in [*draft.summary, *(c for s in draft.sections for c in s.claims)]]
    assert "`sys.getsizeof()`: return the size of an object in bytes" in claims
    assert verify(VerifyInput(draft=draft)).support_rate == 1.0


def test_a_passage_continuing_a_section_takes_its_name_from_the_location() -> None:
    labels = dict(
        sentence_labels("Raises ValueError when the input is empty.", "Python stdlib: math", "§ fsum(seq, /), part 13")
    )
    assert labels == {"Raises ValueError when the input is empty.": "`math.fsum()`"}


def test_prose_sections_and_sentences_naming_their_api_stay_unlabelled() -> None:
    prose = "The with statement wraps a block. It calls the context manager's exit method."
    assert all(label is None for _, label in sentence_labels(prose, "Python reference: with", "§ overview, part 1"))
    named = "fsum(seq, /)\n\nUse math.fsum for exact sums of many floats."
    labels = dict(sentence_labels(named, "Python stdlib: math", "part 1"))
    assert labels["Use math.fsum for exact sums of many floats."] is None


def test_a_sentence_naming_its_api_without_the_module_is_labelled_with_where_it_lives() -> None:
    named = "finalize(obj, func, /)\n\nfinalize(obj, func) returns a callable finalizer object."
    labels = dict(sentence_labels(named, "Python stdlib: weakref", "part 1"))
    assert labels["finalize(obj, func) returns a callable finalizer object."] == "`weakref.finalize()`"


def test_a_sentence_naming_its_api_still_belongs_to_that_apis_entry() -> None:
    text = "unique(enumeration)\n\nenum.unique is a class decorator ensuring unique member values."
    entries = {e.sentence: e for e in labelled_entries(text, "Python stdlib: enum", "§ unique(enumeration), part 9")}
    described = entries["enum.unique is a class decorator ensuring unique member values."]
    assert described.label is None  # it says "enum.unique" itself
    assert described.api == "`enum.unique()`"
    assert entries["unique(enumeration)"].api is None  # a heading line describes nothing


def test_a_label_is_split_from_its_quote_and_backed_only_by_names_the_source_spells() -> None:
    assert split_label("`math.fsum()`: Return an accurate sum.") == ("math.fsum", "Return an accurate sum.")
    assert split_label("Return an accurate sum.") == (None, "Return an accurate sum.")
    assert label_backed("math.fsum", MATH, "Python stdlib: math")
    assert not label_backed("math.fsum", MATH, "Python stdlib: cmath")
    assert not label_backed("math.prod", MATH, "Python stdlib: math")


def _draft(claim: str) -> Draft:
    ref = SourceRef(
        number=1,
        source_id="pydoc:module:math",
        title="Python stdlib: math",
        location="§ fsum(seq, /), part 12",
        passage=MATH,
    )
    return Draft(title="t", question="q", summary=[Claim(text=claim, citations=[1])], sections=[], sources=[ref])


def test_the_citation_checks_accept_a_backed_label_and_refuse_an_invented_one() -> None:
    good = "`math.fsum()`: Return an accurate floating point sum of values in the iterable."
    invented = "`math.prod()`: Return an accurate floating point sum of values in the iterable."
    assert support_score(good, MATH, "Python stdlib: math\n§ fsum(seq, /), part 12") == 1.0
    assert support_score(invented, MATH, "Python stdlib: math\n§ fsum(seq, /), part 12") == 0.0
    assert check_citations(_draft(good)) == []
    assert check_citations(_draft(invented)) != []
    assert verify(VerifyInput(draft=_draft(good))).support_rate == 1.0
    assert verify(VerifyInput(draft=_draft(invented))).support_rate == 0.0


def test_a_synthesised_claim_names_its_api_and_cites_only_sources_that_name_it_too() -> None:
    sentence = "Return an accurate floating point sum of values in the iterable."
    documented = Passage(
        source_id="doc:math", title="Python stdlib: math", location="§ fsum(seq, /), part 2", text=MATH
    )
    echo = Passage(source_id="doc:notes", title="notes", location="part 1", text=f"Some notes on sums. {sentence}")
    question = "How do I get an accurate floating point sum of values?"
    draft = synth(question, {question: [documented, echo]})
    claims = [c for c in [*draft.summary, *(c for s in draft.sections for c in s.claims)] if sentence in c.text]
    assert claims and all(c.text == f"`math.fsum()`: {sentence}" for c in claims)
    by_number = {s.number: s.source_id for s in draft.sources}
    assert all(by_number[n] == "doc:math" for c in claims for n in c.citations)
    assert verify(VerifyInput(draft=draft)).support_rate == 1.0


def test_only_a_title_naming_a_library_qualifies_the_label_with_its_module() -> None:
    sentence = "Return an accurate floating point sum of values in the iterable."
    assert dict(sentence_labels(MATH, "Module: math", "part 1"))[sentence] == "`math.fsum()`"
    assert dict(sentence_labels(MATH, "Python reference: typesseq", "part 1"))[sentence] == "`fsum()`"


PATHLIB = """class PurePath(*args)

Base class for manipulating paths without I/O.

PurePath.as_posix(self):
   Return the string representation of the path with forward (/)
   slashes.

PurePath.drive:
   The drive prefix (letter or UNC path), if any.
"""


def test_a_description_on_its_signatures_line_belongs_to_that_apis_entry() -> None:
    by_text = {e.sentence: e for e in labelled_entries(PATHLIB, "Python stdlib: pathlib", "part 1")}
    own_line = by_text[
        "PurePath.as_posix(self): Return the string representation of the path with forward (/) slashes."
    ]
    assert own_line.label is None  # it names the method itself
    assert own_line.api == "`pathlib.PurePath.as_posix()`"
    assert by_text["PurePath.drive:"].api is None  # a heading line describes nothing
    assert by_text["The drive prefix (letter or UNC path), if any."].api == "`pathlib.PurePath.drive`"
