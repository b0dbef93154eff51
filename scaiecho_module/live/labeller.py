"""The labeller stage, between the recogniser and the frames: speaker labels go here.

The labeller hears all of the session's audio as it comes (``hear``, from the recogniser's
loop: it must not block), so it can do its work while the speech is spoken. Each final
reaches the labeller with its own audio (16 kHz mono, the samples the final
covers), before the session forgets that audio. The labeller answers the final as the client
sees it: labelled, or split in two or more at a change of speaker (a final never spans two
speakers), or as it was. Partials are not labelled. The session runs the labeller beside the
recogniser (``session.py``), one final at a time and in order, so labelling never holds up
recognition of the audio that follows. ``live/diarize.py`` is the labeller that runs.
"""

from __future__ import annotations

from typing import Protocol

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.transcript import Delta


class Labeller(Protocol):
    def hear(self, audio: AudioArray) -> None:
        """The session's next audio (16 kHz mono, every block, in order). Returns at once."""
        ...

    async def close(self) -> None:
        """The session has ended: stop any work begun on heard audio."""
        ...

    async def label(self, final: Delta, audio: AudioArray, since: float | None = None) -> list[Delta]:
        """The final as the client will see it (with a speaker, or split at a change), from its
        audio. ``since``: when the audio at the final's end came (``time.monotonic()``), the
        age its node calls wait at: before the finals of speech that ended later."""
        ...
