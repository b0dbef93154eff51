"""Decode uploaded audio with PyAV to 16 kHz mono float32.

Only the containers the spec names are opened: libavformat's ``format_whitelist`` stops a
crafted upload from reaching demuxers that open other files or URLs (HLS playlists, concat
lists), which would let one caller read another's audio from the blob directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import av
import numpy as np

from scaiecho_module.audio import pcm
from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.errors import (
    AUDIO_EMPTY,
    AUDIO_TOO_LONG,
    AUDIO_UNDECODABLE,
    UNSUPPORTED_MEDIA_TYPE,
    ScaiEchoError,
)

# libavformat demuxer names: wav, mp3, flac, ogg (vorbis/opus), m4a/mp4, webm/mkv, raw AAC.
ALLOWED_DEMUXERS = ("wav", "mp3", "flac", "ogg", "mov", "matroska", "aac")
SUPPORTED_FORMATS_TEXT = "wav, mp3, flac, ogg, m4a, webm/opus"
# Uploads are read through a Python file object, so no libavformat protocol is needed at all:
# "none" matches no protocol, and any nested open a demuxer attempts fails.
_OPEN_OPTIONS = {"format_whitelist": ",".join(ALLOWED_DEMUXERS), "protocol_whitelist": "none"}
# Bounds on what a stream may declare, checked before anything decodes. Resampling to 16 kHz
# multiplies a low-rate stream's samples (a 1,834-byte WAV at 1 Hz decodes to 30 minutes), and
# many channels multiply decode memory: neither is speech anyone records.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, MAX_CHANNELS = 4_000, 384_000, 8


def _open(source: IO[bytes]) -> av.container.InputContainer:
    source.seek(0, 2)
    if source.tell() == 0:
        raise ScaiEchoError(AUDIO_EMPTY, "the uploaded file is empty")
    source.seek(0)
    try:
        return av.open(source, mode="r", options=_OPEN_OPTIONS, metadata_errors="ignore")
    except (av.error.InvalidDataError, av.error.EOFError) as exc:
        raise ScaiEchoError(AUDIO_UNDECODABLE, "the file is not audio that can be decoded") from exc
    except (av.error.ArgumentError, av.error.PatchWelcomeError) as exc:
        # EINVAL is what libavformat returns when the probed container is off the whitelist.
        raise ScaiEchoError(
            UNSUPPORTED_MEDIA_TYPE,
            f"unsupported audio container; supported: {SUPPORTED_FORMATS_TEXT}",
        ) from exc
    except av.error.FFmpegError as exc:
        raise ScaiEchoError(AUDIO_UNDECODABLE, "the file is not audio that can be decoded") from exc


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        raise ScaiEchoError(AUDIO_UNDECODABLE, "the file has no audio stream")
    stream = container.streams.audio[0]
    if stream.codec_context is None:
        # A stream whose codec libavcodec has no decoder for (a WAV with format tag 0, found by
        # the fuzz suite): there is nothing to decode it with.
        raise ScaiEchoError(AUDIO_UNDECODABLE, "the audio stream's codec is unknown")
    rate, channels = stream.codec_context.sample_rate or 0, stream.codec_context.channels or 0
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ScaiEchoError(
            AUDIO_UNDECODABLE,
            f"sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz",
        )
    if channels > MAX_CHANNELS:
        raise ScaiEchoError(AUDIO_UNDECODABLE, f"{channels} channels; at most {MAX_CHANNELS} are accepted")
    return stream


def iter_pcm(source: IO[bytes], max_seconds: float | None = None) -> Iterator[AudioArray]:
    """Yield 16 kHz mono float32 blocks as they decode, never the whole file at once."""
    container = _open(source)
    try:
        stream = _audio_stream(container)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
        produced = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    block = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    produced += len(block)
                    if limit is not None and produced > limit:
                        raise ScaiEchoError(
                            AUDIO_TOO_LONG,
                            f"audio is longer than the {max_seconds:g} s this path accepts",
                        )
                    yield block
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        except av.error.FFmpegError as exc:
            raise ScaiEchoError(AUDIO_UNDECODABLE, "the audio stream is corrupt or truncated") from exc
    finally:
        container.close()


def decode_file(source: IO[bytes], max_seconds: float | None = None) -> AudioArray:
    blocks = list(iter_pcm(source, max_seconds))
    audio = np.concatenate(blocks) if blocks else pcm.empty()
    if audio.size == 0:
        raise ScaiEchoError(AUDIO_EMPTY, "the file contains no audio samples")
    return audio


def probe(source: IO[bytes]) -> float | None:
    """Check that ``source`` opens as supported audio; return its duration when the container says it."""
    container = _open(source)
    try:
        stream = _audio_stream(container)
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return float(container.duration) / 1_000_000
        return None
    finally:
        container.close()
        source.seek(0)
