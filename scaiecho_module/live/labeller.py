"""The labeller stage, between the recogniser and the frames: speaker labels go here.

Each final reaches the labeller with its own audio (16 kHz mono, the samples the final
covers), before the session forgets that audio. Partials are not labelled. The stage is a
seam today: no labeller runs until the speaker engine lands.
"""

from __future__ import annotations

from typing import Protocol

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.transcript import Delta


class Labeller(Protocol):
    async def label(self, final: Delta, audio: AudioArray) -> Delta:
        """The final as the client will see it (e.g. with a speaker), from its audio."""
        ...
