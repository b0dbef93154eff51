#!/usr/bin/env bash
# Quickstart step 4 with websocat: everything goes as binary messages (-b); the server reads
# the open line at the stream's start and the close line after the WAV's data chunk.
# -n (--no-close): without it websocat closes the WebSocket as soon as its input ends, and
# after a client's Close no server may send the transcript (RFC 6455): you would see `ready` only.
# Needs SCAIGRID_HOST_WS (the ws:// or wss:// form of SCAIGRID_HOST) and SCAIGRID_API_KEY.
{
echo '{"type":"open","language_hint":"en","media_type":"audio/wav"}'
cat meeting.wav
echo '{"type":"close"}'
} | websocat -n -b "$SCAIGRID_HOST_WS/v1/modules/scaiecho/stream/transcribe?token=$SCAIGRID_API_KEY"
