"""Running the installed ``camid`` script as a subprocess against the loopback fakes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CAMID = Path(sys.executable).with_name("camid")


def camid(*args: str, cwd: Path, env: dict[str, str] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``camid --data-dir <cwd>/data ARGS`` with a clean environment (no CAMID_*, no Flickr key)."""
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("CAMID_", "FLICKR_")) and "proxy" not in k.lower()}
    full.update({"COLUMNS": "200", **(env or {})})
    return subprocess.run([str(CAMID), "--data-dir", str(cwd / "data"), *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=timeout)
