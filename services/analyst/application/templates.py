"""Prompt templates from an agent configuration: an operator's text, filled in safely.

Only `{name}` with a name the caller offers is substituted, in one pass, so what a value holds
(a question, a page) is never read as a placeholder. Nothing else of `str.format` is understood:
`{q.__class__}` or `{q[0]}` are not placeholders and stay as written, so a template cannot reach
an attribute or an item of anything. `{{` and `}}` write a brace; any other brace is text as it
stands, so a template can show the model a JSON example without doubling every brace. A `{name}`
the caller does not offer is refused when the configuration is read, naming what is offered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]{0,60})\}")


class TemplateError(ValueError):
    """A template names a placeholder its use does not fill."""


def placeholders(template: str) -> set[str]:
    """The `{name}`s of `template`."""
    return {m.group(1) for m in _TOKEN.finditer(template) if m.group(1)}


def check(name: str, template: str, offered: frozenset[str]) -> None:
    """`TemplateError` when `template` (prompt `name`) uses a placeholder not in `offered`."""
    unknown = sorted(placeholders(template) - offered)
    if unknown:
        known = ", ".join(f"{{{o}}}" for o in sorted(offered)) or "none"
        raise TemplateError(f"prompt {name!r} uses {', '.join(f'{{{u}}}' for u in unknown)}; it may use {known}")


def render(template: str, values: Mapping[str, object]) -> str:
    """`template` with each offered `{name}` replaced by `str(values[name])`."""

    def replace(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = m.group(1)
        if name not in values:
            raise TemplateError(f"the template uses {{{name}}}, which is not offered here")
        return str(values[name])

    return _TOKEN.sub(replace, template)
