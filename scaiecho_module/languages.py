"""Language codes: which ones the API accepts, and the check of a caller's hint.

Bottom layer: imports nothing of the module but ``errors``. Every service that takes a
``language_hint`` (files, jobs, live sessions) checks it here, so all of them refuse the
same codes with the same error.
"""

from __future__ import annotations

from functools import cache

from scaiecho_module.errors import VALIDATION_ERROR, ScaiEchoError


@cache
def supported_languages() -> frozenset[str]:
    """ISO 639-1 codes Whisper knows; English-only models still accept (and ignore) them."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return frozenset(_LANGUAGE_CODES)


def check_language_hint(hint: str | None) -> str | None:
    if hint is None:
        return None
    code = hint.strip().lower()
    if code not in supported_languages():
        raise ScaiEchoError(
            VALIDATION_ERROR,
            f"language_hint {hint!r} is not a language code Whisper supports (e.g. en, de, fr)",
            {"field": "language_hint"},
        )
    return code
