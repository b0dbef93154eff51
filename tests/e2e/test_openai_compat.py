"""The OpenAI-compatible endpoint, driven by the official ``openai`` SDK against the stub host."""

from __future__ import annotations

import io

import openai
import pytest
import srt
import webvtt
from openai import OpenAI

from tests.e2e.conftest import Caller, MakeCaller
from tests.support import recordings
from tests.support.db import audit_rows, usage_rows
from tests.support.text import wer


def sdk(caller: Caller, key: str | None = None) -> OpenAI:
    return OpenAI(base_url=caller.server.api, api_key=key or caller.key, max_retries=0, timeout=120)


def test_sdk_json_answer_is_the_transcript(caller: Caller) -> None:
    clip = recordings.librivox("0870")
    with clip.wav.open("rb") as audio:
        result = sdk(caller).audio.transcriptions.create(model="whisper-1", file=audio, language="en")
    assert wer(clip.text, result.text) <= 0.15, result.text


def test_sdk_verbose_json_with_word_timestamps(caller: Caller) -> None:
    clip = recordings.librivox("0870")
    with clip.wav.open("rb") as audio:
        result = sdk(caller).audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert result.language == "en"
    assert result.duration > 1
    assert result.segments and result.words
    # The words spell the transcript (the model's wording is judged elsewhere).
    assert wer(result.text, " ".join(w.word for w in result.words)) <= 0.05
    assert wer(clip.text, result.text) <= 0.2
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= result.duration + 0.1 for w in result.words)


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_sdk_text_formats_parse(caller: Caller, fmt: str) -> None:
    clip = recordings.librivox("0870")
    with clip.wav.open("rb") as audio:
        body = sdk(caller).audio.transcriptions.create(model="whisper-1", file=audio, response_format=fmt)  # type: ignore[call-overload]
    assert isinstance(body, str)
    if fmt == "srt":
        body = " ".join(s.content.replace("\n", " ") for s in srt.parse(body))
    elif fmt == "vtt":
        body = " ".join(c.text for c in webvtt.from_buffer(io.StringIO(body)))
    assert wer(clip.text, body) <= 0.15, body


def test_prompt_and_temperature_are_accepted_and_metered_and_audited(caller: Caller) -> None:
    clip = recordings.librivox("0870")
    with clip.wav.open("rb") as audio:
        result = sdk(caller).audio.transcriptions.create(
            model="whisper-1", file=audio, prompt="Mr. John Dashwood of Norland Park.", temperature=0.0
        )
    assert "dashwood" in result.text.lower()
    usage = usage_rows(caller.server.database_url, tenant_id=caller.tenant_id)
    assert [round(u.quantity, 1) for u in usage] == [7.1]
    actions = [a.action for a in audit_rows(caller.server.database_url, caller.tenant_id)]
    assert actions.count("scaiecho.transcribe") == 1


def test_sdk_sees_auth_and_permission_errors(caller: Caller, make_caller: MakeCaller) -> None:
    clip = recordings.librivox("0870")
    with clip.wav.open("rb") as audio, pytest.raises(openai.AuthenticationError):
        sdk(caller, key="sgk_not_a_key").audio.transcriptions.create(model="whisper-1", file=audio)
    admin_only = make_caller(permissions=["scaiecho:admin"])
    with clip.wav.open("rb") as audio, pytest.raises(openai.PermissionDeniedError) as denied:
        sdk(admin_only).audio.transcriptions.create(model="whisper-1", file=audio)
    body = denied.value.body
    assert isinstance(body, dict)
    assert (body["code"], body["details"]) == ("FORBIDDEN", {"permission": "scaiecho:transcribe"})
    assert body["request_id"] == denied.value.response.headers["x-request-id"]


def test_budget_and_validation_errors_reach_the_sdk(caller: Caller) -> None:
    clip = recordings.librivox("0870")
    with clip.wav.open("rb") as audio, pytest.raises(openai.BadRequestError) as bad:
        sdk(caller).audio.transcriptions.create(model="whisper-1", file=audio, temperature=3.0)
    assert bad.value.body["details"] == {"field": "temperature"}  # type: ignore[index]
    caller.set_budget(1.0)
    with clip.wav.open("rb") as audio, pytest.raises(openai.APIStatusError) as exhausted:
        sdk(caller).audio.transcriptions.create(model="whisper-1", file=audio)
    assert exhausted.value.status_code == 402


def test_bcp47_language_is_accepted(caller: Caller) -> None:
    with recordings.librivox("0870").wav.open("rb") as audio:
        result = sdk(caller).audio.transcriptions.create(model="whisper-1", file=audio, language="en-US")
    assert "dashwood" in result.text.lower()
