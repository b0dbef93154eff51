#!/usr/bin/env bash
# Enrollment tutorial step 3: which nodes hold the speaker. Needs SPEAKER_ID too.
set -euo pipefail
curl "$SCAIGRID_HOST/v1/modules/scaiecho/speakers/$SPEAKER_ID/warm" \
  -H "Authorization: Bearer $SCAIGRID_API_KEY"
