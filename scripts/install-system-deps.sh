#!/usr/bin/env bash
# Debian packages the test suite runs for real: PostgreSQL (a throwaway cluster per run),
# Redis (a saq queue), curl and Node.js (the quickstart examples are executed as written),
# espeak-ng (the enrollment tutorial's consent texts, spoken for its snippets), Chromium (the
# live-caption page, driven headless by Playwright: no browser download), coturn (a TURN
# server on loopback: WebRTC media relayed as operators configure it).
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v curl >/dev/null || missing+=(curl)
command -v node >/dev/null || missing+=(nodejs)
command -v runuser >/dev/null || missing+=(util-linux)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v turnserver >/dev/null || missing+=(coturn)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
