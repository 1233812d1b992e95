"""Which characters a text field refuses (the rule ``input_rules`` documents and applies).

Its own module, with no imports from the package, so that ``templates`` (imported by ``policy``,
which ``input_rules`` imports) can apply the same rule without an import cycle."""

from __future__ import annotations

import re

SINGLE_LINE_BAD = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
MULTI_LINE_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def has_control_chars(value: str, *, multiline: bool = False) -> bool:
    """Whether ``value`` holds a character that field (single- or multi-line) refuses."""
    return (MULTI_LINE_BAD if multiline else SINGLE_LINE_BAD).search(value) is not None
