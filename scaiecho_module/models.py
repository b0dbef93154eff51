"""All module tables, so the module's migrations (``migrations/env.py``) import one place.

Tables are prefixed ``scaiecho_``; tenant and user ids are the host's opaque strings.
"""

from scaiecho_module.jobs.models import JobSegment, TranscriptionJob
from scaiecho_module.policy.models import TenantPolicy
from scaiecho_module.speakers.models import ConsentRecord, ErasureAudit, SpeakerProfile
from scaiecho_module.webhooks.models import WebhookDelivery, WebhookSecret

__all__ = [
    "ConsentRecord",
    "ErasureAudit",
    "JobSegment",
    "SpeakerProfile",
    "TenantPolicy",
    "TranscriptionJob",
    "WebhookDelivery",
    "WebhookSecret",
]
