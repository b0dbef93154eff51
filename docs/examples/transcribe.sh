#!/usr/bin/env bash
# Quickstart step 2 with curl. Needs SCAIGRID_HOST, SCAIGRID_API_KEY and meeting.wav.
set -euo pipefail
curl -sS -X POST "$SCAIGRID_HOST/v1/modules/scaiecho/transcribe" \
  -H "Authorization: Bearer $SCAIGRID_API_KEY" \
  -F "file=@meeting.wav" \
  -F "language_hint=en" \
  -F "backend_preference=any"
