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


def check_language_hint(hint: str | None, languages: frozenset[str] | None = None) -> str | None:
    """The hint as a code, or a clear 400. ``languages``: what the serving model knows (an
    English-only model knows ``en`` alone); every Whisper code when not given."""
    if hint is None:
        return None
    known = supported_languages() if languages is None else languages
    code = hint.strip().lower()
    if code not in known:
        examples = "only en (the model is English-only)" if known == {"en"} else "e.g. en, de, fr"
        raise ScaiEchoError(
            VALIDATION_ERROR,
            f"language_hint {hint!r} is not a language the serving model knows ({examples})",
            {"field": "language_hint"},
        )
    return code
