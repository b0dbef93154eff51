"""The policy resolver: tenant policy + caller preference + availability -> A or B.

Rules (docs/api.md, "Backend selection"):

1. The preferred backend is picked if the policy allows it; otherwise the policy default.
   ``any`` means the policy default.
2. If the picked backend is available, it runs.
3. If not, and the caller said ``any`` and the policy allows the other backend, and that one
   is available, the other one runs.
4. Otherwise: ``BACKEND_UNAVAILABLE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.errors import BACKEND_UNAVAILABLE, ScaiEchoError


@dataclass(frozen=True, slots=True)
class Policy:
    allowed_backends: frozenset[str]
    default_backend: str


_PREFERRED = {BackendPreference.PREFER_SELF_HOSTED: "A", BackendPreference.PREFER_RELAY: "B"}
_OTHER = {"A": "B", "B": "A"}


def resolve_backend(policy: Policy, preference: BackendPreference, available: Mapping[str, bool]) -> str:
    wanted = _PREFERRED.get(preference)
    picked = wanted if wanted in policy.allowed_backends else policy.default_backend
    if available.get(picked, False):
        return picked
    other = _OTHER[picked]
    if (
        preference is BackendPreference.ANY
        and other in policy.allowed_backends
        and available.get(other, False)
    ):
        return other
    raise ScaiEchoError(
        BACKEND_UNAVAILABLE,
        f"backend {picked} is unavailable for this request",
        {"backend": picked},
    )
