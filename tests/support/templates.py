"""A research template as the gateway stores it, and the run settings without one."""

from __future__ import annotations

DEFAULTS = {"depth": 2, "max_sources": 8, "sources": None, "length": "standard", "target_words": None}
TEMPLATE = {
    "template_id": "tpl-1",
    "version": 3,
    "name": "Vendor scan",
    "depth": 3,
    "max_sources": 20,
    "sources": ["web"],
    "length": None,
    "target_words": 900,
    "outline": [{"heading": "Pricing", "hint": "what it costs"}],
    "tone": "executive",
}
