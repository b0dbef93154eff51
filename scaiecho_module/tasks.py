"""saq task functions the module registers with the host's job queue, by name.

Empty until queued transcription jobs land; the registration path already runs at load time.
"""

from __future__ import annotations

from scaiecho_module.host_contract import TaskFunction

TASKS: dict[str, TaskFunction] = {}
