"""What counts as a word when a report's length is measured. Pure.

The analyst writes to a word budget and the reporter holds the report to it, so both count the
same way: runs of non-space characters, except that each Chinese or Japanese character counts as
one word (those scripts put no spaces between words; Korean does).
"""

from __future__ import annotations

import re

_IDEOGRAPHIC = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_IDEOGRAPHIC}]|[^\s{_IDEOGRAPHIC}]+")


def count_words(text: str) -> int:
    """How many words the text has."""
    return len(_WORD.findall(text))
