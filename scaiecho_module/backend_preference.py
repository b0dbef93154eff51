"""A caller's choice of backend (``backend_preference`` in a request, a frame or a form).

Bottom layer: a word of the API, like a language code, so the transports that parse it, the
services that pass it on and the resolver that applies it share one type.
"""

from enum import StrEnum


class BackendPreference(StrEnum):
    PREFER_SELF_HOSTED = "prefer_self_hosted"
    PREFER_RELAY = "prefer_relay"
    ANY = "any"
