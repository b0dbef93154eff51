"""Authentication, the permission matrix, tenant isolation and token hygiene."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from tests.e2e.conftest import ALL_PERMISSIONS, Caller, MakeCaller
from tests.support import recordings

pytestmark = pytest.mark.both_databases

# endpoint -> (method, path, the one permission it needs)
ENDPOINTS = {
    "transcribe": ("POST", "/transcribe", "scaiecho:transcribe"),
    "openai_transcriptions": ("POST", "/audio/transcriptions", "scaiecho:transcribe"),
    "read_policy": ("GET", "/tenant-policy", "scaiecho:admin"),
    "update_policy": ("PUT", "/tenant-policy", "scaiecho:admin"),
    "nodes": ("GET", "/nodes", "scaiecho:admin"),
}


def _call(client: httpx.Client, endpoint: str) -> httpx.Response:
    method, path, _ = ENDPOINTS[endpoint]
    if endpoint == "transcribe":
        wav = recordings.librivox("0930").wav
        with wav.open("rb") as handle:
            return client.post(path, files={"file": ("m.wav", handle, "audio/wav")})
    if endpoint == "openai_transcriptions":
        with recordings.librivox("0930").wav.open("rb") as handle:
            return client.post(
                path, files={"file": ("m.wav", handle, "audio/wav")}, data={"model": "whisper-1"}
            )
    if endpoint == "update_policy":
        return client.put(path, json={"allowed_backends": ["A", "B"], "default_backend": "A"})
    return client.request(method, path)


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("permission", [None, *ALL_PERMISSIONS])
def test_permission_matrix(make_caller: MakeCaller, endpoint: str, permission: str | None) -> None:
    caller = make_caller(permissions=[permission] if permission else [])
    with caller.client() as client:
        resp = _call(client, endpoint)
    needed = ENDPOINTS[endpoint][2]
    if permission == needed:
        assert resp.status_code == 200, resp.text
    else:
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["code"] == "FORBIDDEN"
        assert resp.json()["error"]["details"] == {"permission": needed}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer sgk_not-a-real-key"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "sgk_missing-scheme"},
    ],
    ids=["none", "unknown", "empty", "basic", "no-scheme"],
)
def test_missing_or_invalid_token_is_401(caller: Caller, endpoint: str, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=caller.server.api, headers=headers) as client:
        resp = _call(client, endpoint)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "UNAUTHORIZED"
    assert resp.headers["www-authenticate"] == 'Bearer realm="scaiecho"'


def test_query_token_is_not_accepted_on_rest(caller: Caller) -> None:
    resp = httpx.get(f"{caller.server.api}/tenant-policy", params={"token": caller.key})
    assert resp.status_code == 401


def test_token_never_appears_in_the_access_log(caller: Caller) -> None:
    httpx.get(f"{caller.server.api}/tenant-policy", params={"token": caller.key})
    with caller.client() as client:
        assert client.get("/tenant-policy").status_code == 200
    log = caller.server.log_text()
    assert "tenant-policy?token=[REDACTED]" in log
    assert caller.key not in log
    assert caller.key[8:] not in log


def test_no_spelling_of_a_key_reaches_the_server_log(caller: Caller) -> None:
    key = caller.key
    encoded = "".join(f"%{ord(c):02X}" for c in key)
    queries = [
        f"tok%65n={key}", f"%74oken={key}", f'token="{key}"', f"token='{key}'",
        f"x=token%3D{key}", f"token={encoded}", f"other={key}",
    ]  # fmt: skip
    for query in queries:
        httpx.get(f"{caller.server.api}/tenant-policy?{query}")
        url = caller.server.api.replace("http", "ws", 1) + f"/stream/transcribe?{query}"
        with contextlib.suppress(WebSocketException, OSError), connect(url, open_timeout=10) as ws:
            ws.send(json.dumps({"type": "open", "media_type": "audio/pcm"}))
            ws.recv(timeout=10)
    log = caller.server.log_text()
    assert key not in log
    assert key[8:] not in log
    assert key[8:].lower() not in log.lower()


def test_policy_change_in_one_tenant_is_invisible_to_another(make_caller: MakeCaller) -> None:
    alpha, beta = make_caller(), make_caller()
    with alpha.client() as client:
        resp = client.put("/tenant-policy", json={"allowed_backends": ["A"], "default_backend": "A"})
        assert resp.status_code == 200
        assert resp.json()["data"]["tenant_id"] == alpha.tenant_id
    with beta.client() as client:
        data = client.get("/tenant-policy").json()["data"]
    assert data["tenant_id"] == beta.tenant_id
    assert data["source"] == "default"
    assert data["allowed_backends"] == ["A", "B"]


def test_revoked_tenant_user_keys_only_see_their_own_tenant(make_caller: MakeCaller) -> None:
    alpha = make_caller()
    same_tenant = make_caller(tenant=alpha.tenant_slug)
    assert same_tenant.tenant_id == alpha.tenant_id
    with same_tenant.client() as client:
        assert client.get("/tenant-policy").json()["data"]["tenant_id"] == alpha.tenant_id


def test_concurrent_first_policy_writes_all_succeed(caller: Caller) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def put(default: str) -> int:
        with caller.client() as client:
            return client.put(
                "/tenant-policy", json={"allowed_backends": ["A", "B"], "default_backend": default}
            ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(put, ["A", "B"] * 4))
    assert statuses == [200] * 8
    with caller.client() as client:
        assert client.get("/tenant-policy").json()["data"]["source"] == "tenant"


def test_unknown_paths_under_the_module_are_404_in_the_envelope(caller: Caller) -> None:
    with caller.client() as client:
        resp = client.get("/transcribe/jobs/00000000-0000-0000-0000-000000000000/nope")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "NOT_FOUND"
