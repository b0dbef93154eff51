"""HTTP conventions clients and proxies rely on: request ids, auth challenges, Allow, BCP-47."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Caller
from tests.support import recordings


def test_every_response_carries_a_request_id_also_in_error_bodies(caller: Caller) -> None:
    with caller.client() as client:
        ok = client.get("/transcribe/jobs")
        missing = client.get("/no-such-endpoint")
        wrong_method = client.get("/transcribe")
        bad = client.get("/transcribe/jobs", params={"limit": 0})
    assert ok.status_code == 200
    ids = {ok.headers["x-request-id"]}
    for resp in (missing, wrong_method, bad):
        assert resp.status_code >= 400
        assert resp.json()["error"]["request_id"] == resp.headers["x-request-id"]
        ids.add(resp.headers["x-request-id"])
    assert len(ids) == 4, "each request gets its own id"


def test_a_callers_sane_request_id_is_kept_and_a_strange_one_replaced(caller: Caller) -> None:
    with caller.client() as client:
        kept = client.get("/transcribe/jobs", headers={"X-Request-Id": "trace-4f2a.91:7"})
        replaced = client.get("/transcribe/jobs", headers={"X-Request-Id": "<script>" + "x" * 300})
    assert kept.headers["x-request-id"] == "trace-4f2a.91:7"
    assert replaced.headers["x-request-id"] != "" and "<" not in replaced.headers["x-request-id"]


def test_401_challenges_with_bearer_and_says_so_for_a_token_scheme(caller: Caller) -> None:
    with httpx.Client(base_url=caller.server.api) as client:
        none = client.get("/transcribe/jobs")
        token = client.get("/transcribe/jobs", headers={"Authorization": f"Token {caller.key}"})
        bare = client.get("/transcribe/jobs", headers={"Authorization": caller.key})
    for resp in (none, token, bare):
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"].startswith("Bearer")
        assert resp.json()["error"]["code"] == "UNAUTHORIZED"
    assert "Bearer" in token.json()["error"]["message"]
    # The key never comes back, whatever the header looked like.
    assert caller.key not in token.text and caller.key not in bare.text


def test_405_names_the_allowed_methods(caller: Caller) -> None:
    with caller.client() as client:
        resp = client.get("/transcribe")
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in resp.headers["allow"]


@pytest.mark.parametrize("tag", ["en-US", "en-GB", "EN_us"])
def test_bcp47_language_hint_is_reduced_to_its_language(caller: Caller, tag: str) -> None:
    resp = caller.transcribe(recordings.librivox("0870").wav, language_hint=tag)
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["language"] == "en"


def test_an_unknown_language_is_still_refused(caller: Caller) -> None:
    resp = caller.transcribe(recordings.librivox("0870").wav, language_hint="xx-YY")
    assert resp.status_code == 400
    assert resp.json()["error"]["details"] == {"field": "language_hint"}


def test_503_says_when_to_retry(caller: Caller) -> None:
    with caller.client() as client:
        # Backend B only, on a host with no relay configured: nothing can run the request.
        policy = client.put("/tenant-policy", json={"allowed_backends": ["B"], "default_backend": "B"})
        assert policy.status_code == 200, policy.text
    resp = caller.transcribe(recordings.librivox("0870").wav)
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "BACKEND_UNAVAILABLE"
    assert int(resp.headers["retry-after"]) > 0
