"""Bad input gets a clear error with a stable code, never a crash, never a file left behind."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Caller
from tests.support import recordings


def _code(resp: httpx.Response) -> str:
    return str(resp.json()["error"]["code"])


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    wav = recordings.librivox("0870").wav.read_bytes()
    made = {
        "empty.wav": b"",
        "text.wav": b"This is a text file pretending to be a WAV.\n" * 20,
        "header-only.wav": wav[:30],
        "playlist.wav": b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n",
    }
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
    # A real but unsupported container: Sun AU audio.
    au = bytearray(b".snd" + (24).to_bytes(4, "big") + (16000).to_bytes(4, "big"))
    au += (3).to_bytes(4, "big") + (16000).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes(32000)
    (tmp_path / "tone.au").write_bytes(bytes(au))
    return {name: tmp_path / name for name in [*made, "tone.au"]}


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("empty.wav", 422, "AUDIO_EMPTY"),
        ("text.wav", 422, "AUDIO_UNDECODABLE"),
        ("header-only.wav", 422, "AUDIO_UNDECODABLE"),
        ("playlist.wav", 422, "AUDIO_UNDECODABLE"),
        ("tone.au", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ],
)
def test_undecodable_or_unsupported_files_get_a_stable_code(
    caller: Caller, files: dict[str, Path], name: str, status: int, code: str
) -> None:
    resp = caller.transcribe(files[name])
    assert resp.status_code == status, resp.text
    assert _code(resp) == code
    assert resp.json()["error"]["message"]


def test_truncated_recording_transcribes_what_arrived(caller: Caller, tmp_path: Path) -> None:
    clip = recordings.librivox("0870")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(clip.wav.read_bytes()[: 44 + 16000 * 2 * 3])  # header + 3 s
    data = caller.transcribe(cut).json()["data"]
    assert data["duration_seconds"] == pytest.approx(3.0, abs=0.05)
    assert data["transcript"].lower().startswith("and mr")


def test_wrong_field_name_is_a_validation_error(caller: Caller) -> None:
    wav = recordings.librivox("0870").wav
    with wav.open("rb") as handle, caller.client() as client:
        resp = client.post("/transcribe", files={"audio": ("a.wav", handle, "audio/wav")})
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": resp.json()["error"]["message"],
        "details": {"field": "audio"},
        "request_id": resp.headers["x-request-id"],
    }


def test_repeated_file_part_is_a_validation_error(caller: Caller) -> None:
    wav = recordings.librivox("0930").wav.read_bytes()
    with caller.client() as client:
        resp = client.post(
            "/transcribe",
            files=[("file", ("a.wav", wav, "audio/wav")), ("file", ("b.wav", wav, "audio/wav"))],
        )
    assert resp.status_code == 400
    assert resp.json()["error"]["details"] == {"field": "file"}


def test_wrong_method_is_405_in_the_envelope(caller: Caller) -> None:
    with caller.client() as client:
        resp = client.get("/transcribe")
    assert resp.status_code == 405
    assert _code(resp) == "METHOD_NOT_ALLOWED"


def test_missing_file_part_is_a_validation_error(caller: Caller) -> None:
    with caller.client() as client:
        resp = client.post("/transcribe", files={"language_hint": (None, "en")})
    assert resp.status_code == 400
    assert resp.json()["error"]["details"] == {"field": "file"}


def test_file_sent_as_text_field_is_a_validation_error(caller: Caller) -> None:
    with caller.client() as client:
        resp = client.post("/transcribe", files={"file": (None, "not a file")})
    assert resp.status_code == 400
    assert resp.json()["error"]["details"] == {"field": "file"}


def test_unknown_backend_preference_is_a_validation_error(caller: Caller) -> None:
    resp = caller.transcribe(recordings.librivox("0870").wav, backend_preference="fastest")
    assert resp.status_code == 400
    assert resp.json()["error"]["details"] == {"field": "backend_preference"}


def test_unsupported_language_hint_is_a_validation_error(caller: Caller) -> None:
    resp = caller.transcribe(recordings.librivox("0870").wav, language_hint="klingon")
    assert resp.status_code == 400
    assert resp.json()["error"]["details"] == {"field": "language_hint"}


def test_json_body_is_refused_as_unsupported_media_type(caller: Caller) -> None:
    with caller.client() as client:
        resp = client.post("/transcribe", json={"file": "meeting.wav"})
    assert resp.status_code == 415
    assert _code(resp) == "UNSUPPORTED_MEDIA_TYPE"


def test_malformed_multipart_is_a_validation_error(caller: Caller) -> None:
    with caller.client() as client:
        resp = client.post(
            "/transcribe",
            content=b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nabc',
            headers={"content-type": "multipart/form-data; boundary=xyz"},
        )
    assert resp.status_code in (400, 422)
    assert _code(resp) in ("VALIDATION_ERROR", "AUDIO_UNDECODABLE")


def test_body_over_the_upload_limit_is_413_with_the_limit(caller: Caller, tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(bytes(13 * 1024 * 1024))  # the test server accepts 12 MiB (SCAIECHO_MAX_UPLOAD_BYTES)
    resp = caller.transcribe(big)
    assert resp.status_code == 413
    assert _code(resp) == "PAYLOAD_TOO_LARGE"
    assert resp.json()["error"]["details"]["limit_bytes"] >= 12 * 1024 * 1024


def test_long_upload_that_is_not_audio_is_refused_before_queueing(caller: Caller, tmp_path: Path) -> None:
    big = tmp_path / "just-over.wav"
    big.write_bytes(bytes(5 * 1024 * 1024 + 10))
    resp = caller.transcribe(big)
    assert resp.status_code == 422
    assert _code(resp) == "AUDIO_UNDECODABLE"
    with caller.client() as client:
        assert client.get("/transcribe/jobs").json()["data"] == []


def test_bad_input_leaves_no_temporary_files_and_server_keeps_serving(
    caller: Caller, files: dict[str, Path], tmp_path: Path
) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(bytes(3 * 1024 * 1024))  # spooled to disk by the multipart parser
    before = set(caller.server.tmp_dir.iterdir())
    for path in [*files.values(), big]:
        caller.transcribe(path)
    assert set(caller.server.tmp_dir.iterdir()) == before
    resp = caller.transcribe(recordings.librivox("0930").wav)
    assert resp.status_code == 200
    assert set(caller.server.tmp_dir.iterdir()) == before


def _multipart(*parts: tuple[str, bytes]) -> tuple[bytes, str]:
    """A multipart body from raw part headers and contents, exactly as given."""
    boundary = "scaiecho-test-boundary"
    body = b"".join(
        b"--" + boundary.encode() + b"\r\n" + headers.encode("latin-1") + b"\r\n\r\n" + content + b"\r\n"
        for headers, content in parts
    )
    return body + b"--" + boundary.encode() + b"--\r\n", f"multipart/form-data; boundary={boundary}"


_WAV = 'Content-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav'
MALFORMED_FORMS = {
    "file as a text field": [('Content-Disposition: form-data; name="file"', b"RIFF....")],
    "file with an empty filename": [('Content-Disposition: form-data; name="file"; filename=""', b"RIFF")],
    "RFC 5987 filename": [
        ("Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E2%9C%93.wav", b"RIFF")
    ],
    "language_hint not UTF-8": [
        (_WAV, b"RIFF"),
        ('Content-Disposition: form-data; name="language_hint"', b"\xff\xfe"),
    ],
    "backend_preference not UTF-8": [
        (_WAV, b"RIFF"),
        ('Content-Disposition: form-data; name="backend_preference"', b"\xc3\x28"),
    ],
    "unknown charset": [
        (_WAV, b"RIFF"),
        (
            'Content-Disposition: form-data; name="language_hint"\r\n'
            "Content-Type: text/plain; charset=x-bogus",
            b"en",
        ),
    ],
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MALFORMED_FORMS))
def test_malformed_multipart_is_a_validation_error_not_a_crash(caller: Caller, case: str) -> None:
    body, content_type = _multipart(*MALFORMED_FORMS[case])
    with caller.client() as client:
        resp = client.post("/transcribe", content=body, headers={"Content-Type": content_type})
    assert resp.status_code in (400, 422), (case, resp.status_code, resp.text)
    assert _code(resp) in {"VALIDATION_ERROR", "AUDIO_UNDECODABLE", "AUDIO_EMPTY"}, resp.text


def test_a_policy_body_nested_too_deeply_is_a_validation_error(caller: Caller) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with caller.client() as client:
        resp = client.put("/tenant-policy", content=deep, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "request body is nested too deeply",
        "details": {"field": "body"},
        "request_id": resp.headers["x-request-id"],
    }
