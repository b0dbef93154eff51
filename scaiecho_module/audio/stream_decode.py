"""Incremental decoders for live audio: bytes arrive in arbitrary chunks, float32 comes out.

- ``audio/pcm``, ``audio/l16;rate=..;channels=..``: raw little-endian PCM16 (what ScaiVoice sends)
- ``audio/wav``: a WAV stream; the RIFF header may arrive split across chunks
- ``audio/webm``, ``audio/ogg``: Opus (or Vorbis) in a container, demuxed by PyAV on a thread
  that reads from a buffer the session writes into
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import av
import numpy as np

from scaiecho_module.audio import pcm
from scaiecho_module.audio.decode import ALLOWED_DEMUXERS
from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.errors import AUDIO_UNDECODABLE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_ERROR, ScaiEchoError

SUPPORTED_MEDIA_TYPES = ("audio/pcm", "audio/l16", "audio/wav", "audio/webm", "audio/ogg")
_WAV_ALIASES = {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"}
_MAX_WAV_HEADER = 64 * 1024
_BATCH_SAMPLES = SAMPLE_RATE // 2


class StreamDecoder(Protocol):
    # True when audio comes through ``deliver`` on a thread of the decoder's own, and the end
    # of the stream (or its error) through ``done``; False when ``feed``/``finish`` return it.
    delivers_later: bool

    @property
    def buffered_bytes(self) -> int:
        """Bytes fed but not yet decoded: the session stops taking input while this is large."""
        ...

    def feed(self, data: bytes) -> list[AudioArray]: ...

    def finish(self) -> list[AudioArray]:
        """No more input; never blocks (a threaded decoder reports its end through ``done``)."""
        ...

    def abort(self) -> None:
        """Drop the stream (client gone): release any thread or buffer at once."""
        ...


class _Resampler:
    """Interleaved PCM at any rate/channel count -> 16 kHz mono float32."""

    def __init__(self, rate: int, channels: int) -> None:
        self.rate, self.channels = rate, channels
        self._av = None
        if rate != SAMPLE_RATE:
            self._av = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    def convert(self, samples: np.ndarray) -> AudioArray:
        mono = samples.reshape(-1, self.channels).mean(axis=1) if self.channels > 1 else samples
        mono = mono.astype(np.float32, copy=False)
        if self._av is None:
            return mono
        frame = av.AudioFrame.from_ndarray(mono[None, :], format="flt", layout="mono")
        frame.sample_rate = self.rate
        return _frames_to_array(self._av.resample(frame))

    def flush(self) -> list[AudioArray]:
        return [_frames_to_array(self._av.resample(None))] if self._av is not None else []


def _frames_to_array(frames: list[av.AudioFrame]) -> AudioArray:
    if not frames:
        return pcm.empty()
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32, copy=False)


class PcmDecoder:
    delivers_later = False
    buffered_bytes = 0

    def __init__(
        self,
        rate: int = SAMPLE_RATE,
        channels: int = 1,
        sample_bytes: int = 2,
        is_float: bool = False,
        big_endian: bool = False,
    ):
        self._frame_bytes = sample_bytes * channels
        order = ">" if big_endian else "<"
        self._dtype = np.dtype(f"{order}f4") if is_float else np.dtype(f"{order}i{sample_bytes}")
        self._scale = 1.0 if is_float else float(2 ** (8 * sample_bytes - 1))
        self._resampler = _Resampler(rate, channels)
        self._carry = b""

    def feed(self, data: bytes) -> list[AudioArray]:
        data = self._carry + data
        usable = len(data) // self._frame_bytes * self._frame_bytes
        self._carry = data[usable:]
        if not usable:
            return []
        samples = pcm.from_pcm(data[:usable], self._dtype, self._scale)
        return [self._resampler.convert(samples)]

    def finish(self) -> list[AudioArray]:
        return self._resampler.flush()

    def abort(self) -> None:
        self._carry = b""


class WavStreamDecoder:
    """Parses the RIFF header as it arrives, then decodes the data chunk as PCM."""

    delivers_later = False
    buffered_bytes = 0

    def __init__(self) -> None:
        self._header = b""
        self._pcm: PcmDecoder | None = None

    def feed(self, data: bytes) -> list[AudioArray]:
        if self._pcm is not None:
            return self._pcm.feed(data)
        self._header += data
        parsed = _parse_wav_header(self._header)
        if parsed is None:
            if len(self._header) > _MAX_WAV_HEADER:
                raise ScaiEchoError(AUDIO_UNDECODABLE, "no WAV data chunk in the first 64 KiB")
            return []
        self._pcm, offset = parsed
        rest, self._header = self._header[offset:], b""
        return self._pcm.feed(rest)

    def finish(self) -> list[AudioArray]:
        if self._pcm is None:
            if self._header:
                raise ScaiEchoError(AUDIO_UNDECODABLE, "the stream ended inside the WAV header")
            return []
        return self._pcm.finish()

    def abort(self) -> None:
        self._header, self._pcm = b"", None


def _parse_wav_header(buf: bytes) -> tuple[PcmDecoder, int] | None:
    if len(buf) >= 4 and buf[:4] != b"RIFF":
        raise ScaiEchoError(AUDIO_UNDECODABLE, "media_type is audio/wav but the stream is not RIFF/WAVE")
    if len(buf) < 12:
        return None
    if buf[8:12] != b"WAVE":
        raise ScaiEchoError(AUDIO_UNDECODABLE, "media_type is audio/wav but the stream is not RIFF/WAVE")
    pos, fmt = 12, None
    while pos + 8 <= len(buf):
        chunk_id, size = buf[pos : pos + 4], struct.unpack("<I", buf[pos + 4 : pos + 8])[0]
        if chunk_id == b"data":
            if fmt is None:
                raise ScaiEchoError(AUDIO_UNDECODABLE, "WAV data chunk before its fmt chunk")
            return fmt, pos + 8
        if pos + 8 + size > len(buf):
            return None
        if chunk_id == b"fmt ":
            fmt = _pcm_for_fmt(buf[pos + 8 : pos + 8 + size])
        pos += 8 + size + (size & 1)
    return None


def _pcm_for_fmt(body: bytes) -> PcmDecoder:
    if len(body) < 16:
        raise ScaiEchoError(AUDIO_UNDECODABLE, "WAV fmt chunk is too short")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag is in the GUID
        tag = struct.unpack("<H", body[24:26])[0]
    if not (1 <= channels <= 8 and 8000 <= rate <= 192000):
        raise ScaiEchoError(AUDIO_UNDECODABLE, f"implausible WAV format: {channels} ch at {rate} Hz")
    if tag == 1 and bits in (16, 32):
        return PcmDecoder(rate, channels, bits // 8)
    if tag == 3 and bits == 32:
        return PcmDecoder(rate, channels, 4, is_float=True)
    raise ScaiEchoError(
        UNSUPPORTED_MEDIA_TYPE,
        f"WAV streams must be 16/32-bit PCM or 32-bit float (got tag {tag}, {bits} bit)",
    )


class _Pipe:
    """A blocking file-like object: the session writes, PyAV's demuxer thread reads.

    The writer never blocks (it runs on the event loop); it asks ``len(pipe)`` and waits for
    ``on_read`` instead, so the bytes held here stay bounded by the session's limit.
    """

    def __init__(self, on_read: Callable[[], None]) -> None:
        self._buf = bytearray()
        self._closed = False
        self._cond = threading.Condition()
        self._on_read = on_read

    def __len__(self) -> int:
        return len(self._buf)

    def write(self, data: bytes) -> None:
        with self._cond:
            self._buf += data
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def read(self, size: int = -1) -> bytes:
        with self._cond:
            while not self._buf and not self._closed:
                self._cond.wait()
            n = len(self._buf) if size < 0 else min(size, len(self._buf))
            out = bytes(self._buf[:n])
            del self._buf[:n]
        self._on_read()
        return out


Done = Callable[[ScaiEchoError | None], None]


class ContainerStreamDecoder:
    """Opus/Vorbis in WebM or Ogg, decoded incrementally by PyAV on a dedicated thread.

    ``deliver`` may block the thread (the session's backlog is full): the thread then stops
    reading, the pipe fills, and the session stops taking bytes. That chain is what keeps a
    few megabytes of Opus silence (hours of audio) from decoding into gigabytes of samples.
    """

    delivers_later = True

    def __init__(
        self,
        container_format: str,
        deliver: Callable[[AudioArray], None],
        done: Done,
        on_read: Callable[[], None],
    ) -> None:
        self._pipe = _Pipe(on_read)
        self._deliver = deliver
        self._done = done
        self._format = container_format
        self.error: ScaiEchoError | None = None
        self._thread = threading.Thread(target=self._run, name=f"decode-{container_format}", daemon=True)
        self._thread.start()

    @property
    def buffered_bytes(self) -> int:
        return len(self._pipe)

    def _run(self) -> None:
        try:
            options = {"format_whitelist": ",".join(ALLOWED_DEMUXERS), "protocol_whitelist": "none"}
            with av.open(self._pipe, mode="r", format=self._format, options=options) as container:
                if not container.streams.audio:
                    raise ScaiEchoError(AUDIO_UNDECODABLE, "the stream has no audio track")
                resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
                batch: list[AudioArray] = []
                for frame in container.decode(container.streams.audio[0]):
                    batch.append(_frames_to_array(resampler.resample(frame)))
                    # Decoding ahead of real time (more input waiting), frames go in batches:
                    # each delivery is a round trip to the session's event loop.
                    if len(self._pipe) == 0 or sum(map(len, batch)) >= _BATCH_SAMPLES:
                        self._deliver(np.concatenate(batch))
                        batch = []
                batch.append(_frames_to_array(resampler.resample(None)))
                self._deliver(np.concatenate(batch))
        except ScaiEchoError as exc:
            self.error = exc
        except av.error.FFmpegError:
            self.error = ScaiEchoError(AUDIO_UNDECODABLE, f"the {self._format} stream cannot be decoded")
        finally:
            self._pipe.close()
            self._done(self.error)

    def feed(self, data: bytes) -> list[AudioArray]:
        if self.error is not None:
            raise self.error
        self._pipe.write(data)
        return []  # audio is delivered by the thread as it decodes

    def finish(self) -> list[AudioArray]:
        self._pipe.close()  # the thread decodes what is left, then calls ``done``
        return []

    def abort(self) -> None:
        self._deliver = lambda _: None  # nobody is listening any more
        self._pipe.close()  # the demuxer thread reads EOF and exits


@dataclass(frozen=True, slots=True)
class MediaType:
    essence: str
    params: dict[str, str]


def parse_media_type(raw: str) -> MediaType:
    parts = [p.strip() for p in raw.split(";")]
    params = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key:
            params[key.strip().lower()] = value.strip().strip('"')
    essence = parts[0].lower()
    return MediaType("audio/wav" if essence in _WAV_ALIASES else essence, params)


def check_media_type(media_type: str) -> None:
    """Refuse an unsupported media type before any other work (budget, backend) is done."""
    if parse_media_type(media_type).essence not in SUPPORTED_MEDIA_TYPES:
        raise ScaiEchoError(
            UNSUPPORTED_MEDIA_TYPE,
            f"media_type {media_type!r} is not supported; use one of {', '.join(SUPPORTED_MEDIA_TYPES)}",
            {"field": "media_type"},
        )


def make_decoder(
    media_type: str,
    deliver: Callable[[AudioArray], None],
    done: Done = lambda _: None,
    on_read: Callable[[], None] = lambda: None,
) -> StreamDecoder:
    """A decoder for ``media_type``; container decoders push audio through ``deliver``,
    report their end through ``done`` and each read of their input through ``on_read``.

    ``audio/pcm`` is little-endian (what ScaiVoice and browsers' Int16Array send); ``audio/l16``
    is big-endian, as RFC 2586 defines it.
    """
    check_media_type(media_type)
    mt = parse_media_type(media_type)
    if mt.essence in ("audio/pcm", "audio/l16"):
        try:
            rate = int(mt.params.get("rate", SAMPLE_RATE))
            channels = int(mt.params.get("channels", 1))
        except ValueError:
            raise ScaiEchoError(
                VALIDATION_ERROR, "rate and channels must be integers", {"field": "media_type"}
            ) from None
        if not (8000 <= rate <= 192000 and 1 <= channels <= 8):
            raise ScaiEchoError(
                VALIDATION_ERROR, "unsupported PCM rate or channel count", {"field": "media_type"}
            )
        return PcmDecoder(rate, channels, big_endian=mt.essence == "audio/l16")
    if mt.essence == "audio/wav":
        return WavStreamDecoder()
    if mt.essence == "audio/webm":
        return ContainerStreamDecoder("webm", deliver, done, on_read)
    if mt.essence == "audio/ogg":
        return ContainerStreamDecoder("ogg", deliver, done, on_read)
    raise ScaiEchoError(
        UNSUPPORTED_MEDIA_TYPE,
        f"media_type {media_type!r} is not supported; use one of {', '.join(SUPPORTED_MEDIA_TYPES)}",
        {"field": "media_type"},
    )
