"""The policy resolver: every policy x preference x availability has one expected outcome."""

from __future__ import annotations

import itertools

import pytest

from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.backends.resolver import Policy, resolve_backend
from scaiecho_module.errors import ScaiEchoError

POLICIES = {
    "A only": Policy(frozenset("A"), "A"),
    "B only": Policy(frozenset("B"), "B"),
    "AB, A default": Policy(frozenset("AB"), "A"),
    "AB, B default": Policy(frozenset("AB"), "B"),
}
SELF, RELAY, ANY = BackendPreference.PREFER_SELF_HOSTED, BackendPreference.PREFER_RELAY, BackendPreference.ANY
UP = {"both up": (True, True), "A down": (False, True), "B down": (True, False), "both down": (False, False)}

# (policy, preference, availability) -> backend that runs, or None for BACKEND_UNAVAILABLE
EXPECTED: dict[tuple[str, BackendPreference, str], str | None] = {}
for policy_name, pref, up in itertools.product(POLICIES, BackendPreference, UP):
    policy, (a_up, b_up) = POLICIES[policy_name], UP[up]
    available = {"A": a_up, "B": b_up}
    picked = {SELF: "A", RELAY: "B"}.get(pref)
    picked = picked if picked in policy.allowed_backends else policy.default_backend
    other = "B" if picked == "A" else "A"
    if available[picked]:
        outcome: str | None = picked
    elif pref is ANY and other in policy.allowed_backends and available[other]:
        outcome = other
    else:
        outcome = None
    EXPECTED[(policy_name, pref, up)] = outcome

# Spot checks written out by hand, so the table above is not only checked against itself.
HAND_WRITTEN = {
    ("AB, B default", ANY, "both up"): "B",
    ("AB, B default", ANY, "B down"): "A",
    ("AB, B default", SELF, "both up"): "A",
    ("AB, B default", SELF, "A down"): None,
    ("AB, B default", RELAY, "B down"): None,
    ("A only", RELAY, "both up"): "A",
    ("B only", SELF, "both up"): "B",
    ("B only", ANY, "B down"): None,
    ("A only", ANY, "A down"): None,
    ("AB, A default", ANY, "A down"): "B",
    ("AB, A default", ANY, "both down"): None,
}


def test_hand_written_cases_agree_with_the_table() -> None:
    for case, outcome in HAND_WRITTEN.items():
        assert EXPECTED[case] == outcome, case


@pytest.mark.parametrize(("policy", "preference", "up"), sorted(EXPECTED, key=str), ids=str)
def test_resolver_outcome(policy: str, preference: BackendPreference, up: str) -> None:
    a_up, b_up = UP[up]
    expected = EXPECTED[(policy, preference, up)]
    if expected is None:
        with pytest.raises(ScaiEchoError) as info:
            resolve_backend(POLICIES[policy], preference, {"A": a_up, "B": b_up})
        assert info.value.kind.code == "BACKEND_UNAVAILABLE"
        assert info.value.kind.http_status == 503
    else:
        assert resolve_backend(POLICIES[policy], preference, {"A": a_up, "B": b_up}) == expected
