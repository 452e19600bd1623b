"""Opening a file to read it without ever blocking: a FIFO or a device is refused, not read.

``open(path)`` on a FIFO waits for a writer that may never come (``camid inspect some-fifo``
hung), and a character device can stream forever. So the file is opened non-blocking (which
opening a FIFO without a writer honours), its type checked on the open descriptor (no window
between a check and the open) and anything but a regular file refused with its kind named.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat

KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
         (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class NotRegularFile(OSError):
    """The path names something other than a regular file; ``strerror`` says what it is."""


def open_regular(path: str | os.PathLike[str]) -> io.BufferedReader:
    """``path`` opened for binary reading, if it is a regular file; ``NotRegularFile`` if not."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in KINDS if test(mode)), "not a regular file")
            raise NotRegularFile(0, f"not a regular file ({kind})", os.fspath(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_problem(path: str | os.PathLike[str], sha256: str) -> str | None:
    """Why the file at ``path`` is not the stored content ``sha256`` names; None when it is."""
    try:
        with open_regular(path) as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if digest != sha256:
        return "does not match its SHA-256 (changed or damaged since it was stored)"
    return None
