"""English words too common to tell passages apart, and the keywords that are never among them."""

from __future__ import annotations

import keyword

# Python's keywords and soft keywords: in text about code, "with", "is", "not", "in", "yield" and
# "match" are the very words a question turns on, so analysis never drops them.
KEYWORDS: frozenset[str] = frozenset(word.casefold() for word in (*keyword.kwlist, *keyword.softkwlist))

_ENGLISH = """
    a about above after again against all also am an and any are aren as at be because been before
    being below between both but by can cannot could couldn did didn do does doesn doing don done down
    during each either else etc few for from further get gets got had hadn has hasn have haven having he
    her here hers herself him himself his how however i if in into is isn it its itself just let ll made
    make makes many may me might more most much must mustn my myself no nor not now of off on once one
    ones only or other ought our ours ourselves out over own per same shall shan she should shouldn so
    some such than that the their theirs them themselves then there these they this those through thus
    to too under until up upon us ve very via was wasn we were weren what when where whether which while
    who whom whose why will with within without won would wouldn yet you your yours yourself yourselves
"""
FUNCTION_WORDS: frozenset[str] = frozenset(_ENGLISH.split())
"""Every common English function word, keywords included: what a sentence cut in half starts with."""

# "re" is absent on purpose: it is a module name here more often than the tail of "you're".
STOPWORDS: frozenset[str] = FUNCTION_WORDS - KEYWORDS
"""The words analysis drops from prose: the function words that are not Python keywords."""
