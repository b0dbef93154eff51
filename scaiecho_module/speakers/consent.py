"""How closely a consent recording's transcript says the consent text (pure, loose).

Speech recognition mishears names and rare words ("diarisation", "Scai Echo"), so the match is
on letters rather than words: the share of the consent text's letters found, in order, in the
transcript. Words the speaker adds around the text do not lower the score.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

_NOT_LETTERS = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    return _NOT_LETTERS.sub("", text.lower())


def text_match(consent_text: str, transcript: str) -> float:
    """Share (0..1) of ``consent_text``'s letters and digits that ``transcript`` says in order."""
    expected, heard = normalise(consent_text), normalise(transcript)
    if not expected:
        return 0.0
    matcher = SequenceMatcher(None, expected, heard, autojunk=False)
    # Blocks of one or two letters match between any two English sentences; they are noise.
    matched = sum(block.size for block in matcher.get_matching_blocks() if block.size >= 3)
    return matched / len(expected)
