"""The thesaurus adds the words documentation answers with to the words a question asks with."""

from __future__ import annotations

from quarry_text import terms
from quarry_text.thesaurus import GROUPS, WEIGHT, related, relatives_of
from services.retriever.domain.feedback import Feedback


def test_a_plain_word_brings_the_reference_words_for_the_same_idea() -> None:
    added = related("How do I delete a folder and everything in it?")
    assert {"directory", "remov"} <= set(added) and set(added.values()) == {WEIGHT}


def test_a_phrase_counts_as_a_word_of_its_group() -> None:
    assert "chain" in related("Can I go over two lists one after another?")


def test_the_question_s_own_terms_and_a_phrase_s_keywords_are_never_added() -> None:
    question = "Run the tasks in parallel and remove the directory"
    added = related(question)
    assert not set(added) & set(terms(question))
    assert "in" not in added  # the "in" of "in parallel" is prose here


def test_a_phrase_is_matched_only_in_the_sense_its_group_means() -> None:
    assert "delta" in related("Which changes between two versions of a file matter?")
    # Changes a list keeps between calls are mutations, not a diff.
    assert "delta" not in related("Why does a default list keep its changes between calls?")


def test_a_word_stemmed_alike_to_another_sense_brings_nothing_of_the_other() -> None:
    # "settings" stems to "set", "typing" to "typ", "timing" to "tim", "counting" to "count": as
    # single words they would hand a set, a type, a time zone or "counts as true" their groups.
    assert "config" not in related("How do I remove duplicates with a set?")
    assert "annotation" not in related("Which types does the flag a user types accept?")
    assert "benchmark" not in related("How are time zones handled?")
    assert "frequency" not in related("Which values count as false?")
    # Words of two common senses: writing code is not saving, a readable layout is not a struct.
    assert "persist" not in related("How do I write a small function inline?")
    assert "struct" not in related("How do I print a dict in a readable layout?")
    assert "config" in related("Where are the default settings of a TLS context?")


def test_a_keyword_a_group_lists_as_a_word_is_added() -> None:
    assert "import" in related("How do I load a module whose name I only learn at runtime?")
    assert "yield" in related("Can a function produce its values lazily?")
    # Sentence by sentence, the analyst reads the same groups: "yield" stands for "lazily" too.
    assert "yield" in relatives_of("lazily") and "lazily" in relatives_of("yield")


def test_a_question_that_touches_no_group_gets_nothing() -> None:
    assert related("What does super() return?") == {}


def test_a_symbol_named_in_words_meets_the_operator_and_back() -> None:
    assert {"~", "&"} <= set(related("What do the tilde and the ampersand do to an int?"))
    assert "walrus" in related("What does := return?")


def test_every_group_is_a_set_of_different_ideas_words() -> None:
    for group in GROUPS:
        assert len(group) >= 2 and len(set(group)) == len(group), group


def test_feedback_keeps_related_terms_at_their_weight_beside_its_own() -> None:
    query = terms("delete a folder")
    ranked = [(terms("rmtree deletes a directory tree"), 2.0), (terms("rmtree removes a directory tree"), 1.5)]
    weights = Feedback(agree=1).expand(query, ranked, related("delete a folder", query))
    assert all(weights[t] == 1.0 for t in query)
    assert weights["directory"] >= WEIGHT
    assert Feedback().expand(query, [], {"directory": WEIGHT})["directory"] == WEIGHT
