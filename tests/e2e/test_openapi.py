"""The served OpenAPI document: valid, ScaiEcho's, and true to the routes and fields it lists."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.e2e.conftest import Caller
from tests.support import recordings

PREFIX = "/v1/modules/scaiecho"
SAMPLES = {
    "language_hint": "en",
    "language": "en-US",
    "backend_preference": "any",
    "response_format": "json",
    "timestamp_granularities": "word",
    "timestamp_granularities[]": "word",
    "prompt": "Mr. John Dashwood.",
    "hotwords": "Dashwood",
    "model": "whisper-1",
    "temperature": "0",
    "diarize": "true",
    # Nothing listens there: the job's delivery fails quietly in the background.
    "webhook_url": "http://127.0.0.1:9/hook",
    "webhook_auth": "Bearer receiver-token",
}


@pytest.fixture(scope="module")
def document(server: Any) -> dict[str, Any]:
    resp = httpx.get(f"{server.base_url}/schema/openapi.json", timeout=30)
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    return doc


def test_document_is_valid_openapi_titled_and_versioned_as_scaiecho(document: dict[str, Any]) -> None:
    validate(document)
    assert document["info"]["title"] == "ScaiEcho"
    assert document["info"]["version"] == "0.1.0"


def test_every_module_operation_requires_the_bearer_scheme(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["BearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    operations = [
        op for path, item in document["paths"].items() if path.startswith(PREFIX) for op in item.values()
    ]
    assert operations
    assert all(op["security"] == [{"BearerAuth": []}] for op in operations)


def test_errors_are_documented_as_the_real_envelope(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["ErrorEnvelope"]["properties"]["error"]["$ref"].endswith("/ErrorBody")
    assert set(schemas["ErrorBody"]["required"]) == {"code", "message"}
    post = document["paths"][f"{PREFIX}/transcribe"]["post"]
    for status in ("400", "401", "402", "403", "413", "415", "422", "503"):
        assert post["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorEnvelope"
        )
    assert post["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/JobEnvelope")


def test_every_documented_path_and_method_is_routed(document: dict[str, Any], caller: Caller) -> None:
    with httpx.Client(base_url=caller.server.base_url, headers=caller.headers, timeout=30) as client:
        for path, item in document["paths"].items():
            if not path.startswith(PREFIX):
                continue
            concrete = path.replace("{job_id}", "00000000-0000-0000-0000-000000000000")
            # An unrouted method on a routed path answers 405 with Allow: the path exists, and
            # Allow lists exactly what the document says.
            resp = client.request("PATCH", concrete)
            assert resp.status_code == 405, (path, resp.text)
            allowed = {m.strip().lower() for m in resp.headers["allow"].split(",")}
            assert set(item) <= allowed, (path, allowed)


@pytest.mark.parametrize("path", ["/transcribe", "/audio/transcriptions"])
def test_every_documented_form_field_is_accepted(document: dict[str, Any], caller: Caller, path: str) -> None:
    body = document["paths"][f"{PREFIX}{path}"]["post"]["requestBody"]["content"]["multipart/form-data"]
    fields = set(body["schema"]["properties"]) - {"file"}
    assert fields <= set(SAMPLES), fields - set(SAMPLES)
    with recordings.librivox("0870").wav.open("rb") as audio, caller.client() as client:
        resp = client.post(
            path, files={"file": ("a.wav", audio, "audio/wav")}, data={f: SAMPLES[f] for f in fields}
        )
    # With a webhook the file is queued as a job, whatever its size.
    assert resp.status_code == (202 if "webhook_url" in fields else 200), resp.text


def test_schema_ui_loads_its_assets_locally(server: Any) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        page = client.get("/schema/swagger")
        assert page.status_code == 200
        assert "cdn." not in page.text and "unpkg" not in page.text
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
            assert f"/schema-assets/{asset}" in page.text
            resp = client.get(f"/schema-assets/{asset}")
            assert resp.status_code == 200 and len(resp.content) > 1000, asset
