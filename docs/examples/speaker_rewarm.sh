#!/usr/bin/env bash
# Enrollment tutorial step 3: re-enroll on every candidate node. Needs SPEAKER_ID too.
set -euo pipefail
curl -X POST "$SCAIGRID_HOST/v1/modules/scaiecho/speakers/$SPEAKER_ID/warm" \
  -H "Authorization: Bearer $SCAIGRID_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"node_ids": []}'
