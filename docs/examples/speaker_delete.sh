#!/usr/bin/env bash
# Enrollment tutorial step 5: erase the speaker (GDPR Art. 17). Needs SPEAKER_ID too.
set -euo pipefail
curl -X DELETE "$SCAIGRID_HOST/v1/modules/scaiecho/speakers/$SPEAKER_ID" \
  -H "Authorization: Bearer $SCAIGRID_API_KEY"
