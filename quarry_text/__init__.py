"""Code-aware text analysis shared by the services that index and score text. Pure: no I/O."""

from quarry_text.analyzer import ANALYSIS_VERSION, terms
from quarry_text.stemming import stem
from quarry_text.stopwords import FUNCTION_WORDS, STOPWORDS

__all__ = ["ANALYSIS_VERSION", "FUNCTION_WORDS", "STOPWORDS", "stem", "terms"]
