"""Running the installed ``camid`` script as a subprocess against the loopback fakes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CAMID = Path(sys.executable).with_name("camid")
# root reads and writes whatever the permission bits say; without these two it obeys them
ROOT_OVERRIDES = "-dac_override,-dac_read_search"


def camid(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120,
          obey_permissions: bool = False) -> subprocess.CompletedProcess[str]:
    """``camid --data-dir <cwd>/data ARGS`` with a clean environment (no CAMID_*, no Flickr key).

    ``obey_permissions``: a test of an unreadable or unwritable folder runs camid so that the
    folder's mode binds it even when the tests run as root.
    """
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("CAMID_", "FLICKR_")) and "proxy" not in k.lower()}
    full.update({"COLUMNS": "200", **(env or {})})
    prefix = permission_bound() if obey_permissions else []
    return subprocess.run([*prefix, str(CAMID), "--data-dir", str(cwd / "data"), *args], cwd=cwd,
                          env=full, capture_output=True, text=True, timeout=timeout)


def permission_bound() -> list[str]:
    """The command prefix that makes file modes bind this process's children (none if not root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot be made to bind")
    return [setpriv, f"--bounding-set={ROOT_OVERRIDES}", "--"]
