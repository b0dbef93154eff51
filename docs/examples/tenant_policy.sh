#!/usr/bin/env bash
# Quickstart step 1: read the tenant policy (needs scaiecho:admin; 403 otherwise).
set -euo pipefail
curl -sS "$SCAIGRID_HOST/v1/modules/scaiecho/tenant-policy" \
  -H "Authorization: Bearer $SCAIGRID_API_KEY"
