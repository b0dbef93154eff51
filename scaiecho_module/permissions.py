"""The module's permissions, as registered with the host and checked per endpoint.

Bottom layer: imports nothing of the module, so a transport's handler options, a service's
own check (an admin reading another user's job) and the plugin's registration share one name.
"""

PERM_TRANSCRIBE = "scaiecho:transcribe"
PERM_ENROLL = "scaiecho:enroll"
PERM_DIARIZE = "scaiecho:diarize"
PERM_ADMIN = "scaiecho:admin"
PERMISSIONS = {
    PERM_TRANSCRIBE: "Transcribe audio (files, streams, jobs)",
    PERM_ENROLL: "Enroll and delete speaker profiles (biometric capture)",
    PERM_DIARIZE: "Request speaker-attributed transcripts",
    PERM_ADMIN: "Read and change the tenant's ScaiEcho policy and node state",
}
