"""Whether a process of this machine still runs: claims on episodes and half-assembled model copies are taken over
from holders that died."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True
