"""Who holds a claim: claimer ids for downloaders and curators, and which of them are gone.

A claimer id is ``host:pid`` plus ``#tag`` when one process runs several workers (Dask tasks
in one worker process). A process that starts work releases the claims of dead processes on
its own host at once; claims of other hosts end with their lease, since a pid says nothing
about another machine.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable


def claimer_id(tag: str | None = None) -> str:
    """This process's claimer id, with ``tag`` to tell apart workers inside one process."""
    base = f"{socket.gethostname()}:{os.getpid()}"
    return f"{base}#{tag}" if tag else base


def dead_local_claimers(claimers: Iterable[str]) -> list[str]:
    """The claimers among ``claimers`` that were processes on this host and are gone."""
    host = socket.gethostname()
    dead = []
    for claimer in claimers:
        name, _, pid = claimer.partition("#")[0].rpartition(":")
        if name == host and pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            dead.append(claimer)
    return dead


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
