"""What a `ranker` agent configuration changes in the retriever's ranking.

Defaults are today's ranking exactly. Modes: "offline" (BM25 over the index, fused with dense
similarity when the retriever has an embedder, as configured; "bm25" is a synonym). Parameters
(unknown ones are ignored; a known one out of range fails the task):

- `expansion` (true/false): pseudo-relevance feedback (`feedback.Feedback`) before the search;
- `expansion_weight` (0 to 1, default 0.1): weight of the strongest term feedback adds;
- `expansion_terms` (0 to 50, default 8): terms feedback adds at most;
- `expansion_depth` (1 to 200, default 30): candidates of the first search read for new terms;
- `document_evidence` (true/false): each document's best passage lifted by its document's
  other passages (`evidence.Evidence`) after the search;
- `related_weight` (0 to 1, default 0.4): weight of the thesaurus's related words (0: none);
- `bm25_k1` (0 to 3, default 1.2) and `bm25_b` (0 to 1, default 0.75): BM25 over fetched web
  pages (the index's stored weights are fixed when a chunk is indexed, so they stay as indexed).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from contracts.agents import AgentConfig
from quarry_runtime.agent_knobs import BadParameter, flag, number, whole
from quarry_text import thesaurus
from services.retriever.domain.errors import Refused
from services.retriever.domain.evidence import Evidence
from services.retriever.domain.feedback import Feedback
from services.retriever.domain.lexical import K1, B

MODES = ("offline", "bm25")
FEEDBACK = Feedback()  # the index's own (services.retriever.index.source.SourceIndex)
EVIDENCE = Evidence()  # likewise


@dataclass(frozen=True, slots=True)
class Ranking:
    """How one search ranks; `Ranking()` is the built-in ranking."""

    feedback: Feedback | None = FEEDBACK
    evidence: Evidence | None = EVIDENCE
    related_weight: float = thesaurus.WEIGHT
    k1: float = K1
    b: float = B


BUILT_IN = Ranking()


def ranking_of(config: AgentConfig) -> Ranking:
    """The ranking `config` describes; `Refused` (not retryable) for a mode the ranker lacks."""
    if config.mode not in MODES:
        raise Refused(f"the ranker has no mode {config.mode!r}; it runs {' or '.join(MODES)}")
    try:
        return _read(config)
    except BadParameter as exc:
        raise Refused(f"the ranker's configuration: {exc}") from exc


def _read(config: AgentConfig) -> Ranking:
    base = FEEDBACK
    feedback: Feedback | None = None
    if flag(config, "expansion", True):
        depth = whole(config, "expansion_depth", base.depth, 1, 200)
        feedback = dataclasses.replace(
            base,
            depth=depth,
            passages=min(base.passages, depth),
            terms=whole(config, "expansion_terms", base.terms, 0, 50),
            weight=number(config, "expansion_weight", base.weight, 0.0, 1.0),
        )
    return Ranking(
        feedback=feedback,
        evidence=EVIDENCE if flag(config, "document_evidence", True) else None,
        related_weight=number(config, "related_weight", thesaurus.WEIGHT, 0.0, 1.0),
        k1=number(config, "bm25_k1", K1, 0.0, 3.0),
        b=number(config, "bm25_b", B, 0.0, 1.0),
    )
