"""The units ScaiEcho meters usage in, and its permissions, as declared to the host."""

from scaiecho_module.host_contract import MeteringUnit

AUDIO_SECONDS = MeteringUnit(
    name="scaiecho.audio_seconds",
    description="Seconds of audio transcribed (file, stream or job)",
    unit="second",
)
METERING_UNITS = (AUDIO_SECONDS,)

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
