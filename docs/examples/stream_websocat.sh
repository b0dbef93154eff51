#!/usr/bin/env bash
# Quickstart step 4 with websocat: everything goes as binary messages (-b); the server reads
# the open line at the stream's start and the close line after the WAV's data chunk.
# websocat sends a WebSocket Close as soon as its input ends; the server still sends the
# rest of the transcript and `closed` after it (a host without the half-close extension
# needs `websocat -n -b` instead: see docs/api.md).
# Needs SCAIGRID_HOST_WS (the ws:// or wss:// form of SCAIGRID_HOST) and SCAIGRID_API_KEY.
{
echo '{"type":"open","language_hint":"en","media_type":"audio/wav"}'
cat meeting.wav
echo '{"type":"close"}'
} | websocat -b "$SCAIGRID_HOST_WS/v1/modules/scaiecho/stream/transcribe?token=$SCAIGRID_API_KEY"
