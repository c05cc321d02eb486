"""The evaluation set: questions over the sample corpus, the documents a good answer draws on, its
facts and the term it hinges on; in two splits, `dev` (tuned on) and `test` (never tuned on)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import yaml  # type: ignore[import-untyped]

DEV_FILE = Path(__file__).with_name("dev.yaml")
TEST_FILE = Path(__file__).with_name("test.yaml")
SPLITS: dict[str, Path] = {"dev": DEV_FILE, "test": TEST_FILE}
Kind = Literal["single", "multi", "paraphrase", "operator", "api"]
KINDS: tuple[Kind, ...] = ("single", "multi", "paraphrase", "operator", "api")


class EvalSetError(ValueError):
    """The question file is malformed or names documents the corpus does not hold."""


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    kind: Kind
    question: str
    documents: tuple[str, ...]
    facts: tuple[str, ...]
    key_terms: tuple[str, ...]


def load_questions(path: Path = DEV_FILE, corpus_ids: Collection[str] | None = None) -> list[Question]:
    """Read and check the question file; with `corpus_ids`, every named document must be among them."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EvalSetError(f"{path}: not valid YAML: {exc}") from exc
    items = raw.get("questions") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise EvalSetError(f"{path}: expected a mapping with a non-empty 'questions' list")
    questions: list[Question] = []
    seen: set[str] = set()
    for n, item in enumerate(items, 1):
        questions.append(_question(item, f"{path.name} question {n}"))
        if questions[-1].id in seen:
            raise EvalSetError(f"{path.name} question {n}: duplicate id {questions[-1].id!r}")
        seen.add(questions[-1].id)
    if corpus_ids is not None:
        missing = sorted({d for q in questions for d in q.documents} - set(corpus_ids))
        if missing:
            raise EvalSetError(f"{path.name}: documents not in the corpus: {missing}")
    return questions


def load_splits(
    splits: Mapping[str, Path] = SPLITS, corpus_ids: Collection[str] | None = None
) -> dict[str, list[Question]]:
    """Every split, checked as `load_questions` does; an id or a question in two splits is refused,
    since the test split is only worth anything if nothing in it was tuned on."""
    loaded = {name: load_questions(path, corpus_ids) for name, path in splits.items()}
    owner: dict[str, str] = {}
    for name, questions in loaded.items():
        for q in questions:
            for key in (q.id, " ".join(q.question.casefold().split())):
                if owner.setdefault(key, name) != name:
                    raise EvalSetError(f"{q.id!r} of {name} repeats {key!r} of {owner[key]}")
    return loaded


def _question(item: object, where: str) -> Question:
    if not isinstance(item, dict):
        raise EvalSetError(f"{where}: expected a mapping")
    fields = {"id", "kind", "question", "documents", "facts", "key_terms"}
    if set(item) != fields:
        raise EvalSetError(f"{where}: expected exactly the fields {sorted(fields)}, got {sorted(item)}")
    texts = {name: item[name] for name in ("id", "kind", "question")}
    if not all(isinstance(v, str) and v.strip() for v in texts.values()):
        raise EvalSetError(f"{where}: id, kind and question must be non-empty strings")
    if item["kind"] not in KINDS:
        raise EvalSetError(f"{where}: kind must be one of {list(KINDS)}, got {item['kind']!r}")
    lists = {name: item[name] for name in ("documents", "facts", "key_terms")}
    for name, value in lists.items():
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise EvalSetError(f"{where}: {name} must be a non-empty list of strings")
    return Question(
        id=item["id"],
        kind=cast(Kind, item["kind"]),
        question=item["question"],
        documents=tuple(item["documents"]),
        facts=tuple(item["facts"]),
        key_terms=tuple(item["key_terms"]),
    )
