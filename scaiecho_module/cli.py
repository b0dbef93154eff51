"""``scaiecho``: the client's command line. ``scaiecho transcribe FILE`` sends a file and
writes its transcript; ``scaiecho stream`` is ``scaiecho-stream``.

    scaiecho transcribe meeting.mp3                    # JSON envelope on stdout
    scaiecho transcribe meeting.mp3 -f srt -o meeting.srt
    scaiecho transcribe long.flac -f text              # queued: waits, progress on stderr

Reads SCAIGRID_HOST and SCAIGRID_API_KEY. A file over the inline limit becomes a queued job
(``202``): the command polls it (``Retry-After`` first, then every ``--poll-seconds``), shows
a progress bar on stderr when stderr is a terminal, and writes the finished transcript in the
same format. ``--no-wait`` prints the job instead. Exit status: 0 done, 1 the API answered an
error (its code and message on stderr), 2 usage, 3 the job failed or was cancelled.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
PREFIX = "/v1/modules/scaiecho"
TERMINAL_STATES = {"completed", "failed", "cancelled", "deleted"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _raise_for(resp: httpx.Response) -> None:
    if resp.is_success:
        return
    try:
        error = resp.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "HTTP_ERROR", resp.text[:200] or resp.reason_phrase
    raise ApiError(resp.status_code, code, message)


def _fields(args: argparse.Namespace) -> dict[str, str]:
    fields = {"response_format": args.format}
    optional = {
        "language_hint": args.language,
        "backend_preference": args.backend,
        "prompt": args.prompt,
        "hotwords": args.hotwords,
    }
    fields.update({name: value for name, value in optional.items() if value is not None})
    if args.words:
        fields["timestamp_granularities"] = "segment,word"
    if args.diarize:
        fields["diarize"] = "true"
    return fields


class Progress:
    """One self-overwriting line on stderr, only when stderr is a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._live = stream.isatty()

    def show(self, job: dict[str, Any]) -> None:
        if not self._live:
            return
        fraction = job.get("progress") or 0.0
        filled = int(30 * fraction)
        bar = "#" * filled + "-" * (30 - filled)
        self._stream.write(f"\r[{bar}] {fraction * 100:5.1f}% {job['status']:<9}")
        self._stream.flush()

    def done(self) -> None:
        if self._live:
            self._stream.write("\r\033[K")
            self._stream.flush()


def _wait(
    client: httpx.Client, job: dict[str, Any], first_wait: float, args: argparse.Namespace
) -> dict[str, Any]:
    progress = Progress(sys.stderr)
    url = f"{PREFIX}/transcribe/jobs/{job['id']}"
    deadline = time.monotonic() + args.timeout
    delay = first_wait
    try:
        while job["status"] not in TERMINAL_STATES:
            progress.show(job)
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"job {job['id']} still {job['status']} after {args.timeout:.0f} s")
            time.sleep(delay)
            delay = args.poll_seconds
            resp = client.get(url)
            _raise_for(resp)
            job = resp.json()["data"]
    finally:
        progress.done()
    return job


def _render_job(client: httpx.Client, job: dict[str, Any], fmt: str) -> str:
    """A completed job in the asked format: the job view for json, ?format= for the rest."""
    url = f"{PREFIX}/transcribe/jobs/{job['id']}"
    if fmt == "json":
        return json.dumps({"data": job}, indent=2) + "\n"
    resp = client.get(url, params={"format": fmt})
    _raise_for(resp)
    return resp.text if fmt != "verbose_json" else json.dumps(resp.json(), indent=2) + "\n"


def transcribe(args: argparse.Namespace, host: str, token: str) -> int:
    path: Path = args.file
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "scaiecho-cli"}
    timeout = httpx.Timeout(args.timeout, connect=10)
    with httpx.Client(base_url=host, headers=headers, timeout=timeout) as client:
        with path.open("rb") as handle:
            files = {"file": (path.name, handle)}
            resp = client.post(f"{PREFIX}/transcribe", data=_fields(args), files=files)
        _raise_for(resp)
        if resp.status_code != 202:
            plain = args.format in ("text", "srt", "vtt")
            _write(args.output, resp.text if plain else json.dumps(resp.json(), indent=2) + "\n")
            return 0
        job = resp.json()["data"]
        print(f"queued as job {job['id']}", file=sys.stderr)
        if args.no_wait:
            _write(args.output, json.dumps({"data": job}, indent=2) + "\n")
            return 0
        first = float(resp.headers.get("Retry-After", args.poll_seconds))
        job = _wait(client, job, min(first, args.poll_seconds * 5), args)
        if job["status"] != "completed":
            error = job.get("error") or {}
            reason = f"{error.get('code', '')} {error.get('message', '')}".strip()
            print(f"job {job['id']} {job['status']}: {reason}", file=sys.stderr)
            return 3
        _write(args.output, _render_job(client, job, args.format))
        return 0


def _write(output: Path | None, body: str) -> None:
    if output is None:
        sys.stdout.write(body)
        sys.stdout.flush()
    else:
        output.write_text(body, encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scaiecho", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("SCAIGRID_HOST", "http://127.0.0.1:8080"))
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("transcribe", help="transcribe a file (inline, or as a job it waits for)")
    one.add_argument("file", type=Path, help="audio file: wav, mp3, flac, ogg, m4a or webm")
    one.add_argument("-f", "--format", choices=FORMATS, default="json", help="output format (default json)")
    one.add_argument("-o", "--output", type=Path, default=None, help="write here instead of stdout")
    one.add_argument("--language", default=None, help="language hint, e.g. en or en-US")
    one.add_argument("--backend", default=None, help="backend_preference: A, B or any")
    one.add_argument("--words", action="store_true", help="word timestamps")
    one.add_argument("--diarize", action="store_true", help="speaker labels (needs scaiecho:diarize)")
    one.add_argument("--prompt", default=None, help="initial prompt (context, spellings)")
    one.add_argument("--hotwords", default=None, help="phrases to favour")
    one.add_argument("--no-wait", action="store_true", help="print a queued job instead of waiting for it")
    one.add_argument("--poll-seconds", type=float, default=2.0, help="seconds between job polls (default 2)")
    one.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")
    commands.add_parser("stream", help="stream a file or the microphone (scaiecho-stream)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["stream"]:
        from scaiecho_module import client

        client.main(argv[1:])
        return
    parser = _parser()
    args = parser.parse_args(argv)
    token = os.environ.get("SCAIGRID_API_KEY")
    if not token:
        parser.error("set SCAIGRID_API_KEY (scaigrid-stub dev-setup prints one)")
    if not args.file.is_file():
        parser.error(f"{args.file}: no such file")
    try:
        sys.exit(transcribe(args, args.host.rstrip("/"), token))
    except ApiError as exc:
        print(f"error {exc.code} ({exc.status}): {exc.message}", file=sys.stderr)
        sys.exit(1)
    except (httpx.HTTPError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
