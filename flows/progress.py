"""Progress of long stages, as a simple ``tick(stage, done, total)`` callback.

On a terminal: rich bars, one per stage. Anywhere else (``make demo > log``, a pipe, CI, a
scheduler's log): plain ``<stage>: <done>/<total>`` lines, each flushed at once, so a log that is
being watched shows where a ten-minute run is instead of nothing until the end. rich is imported
only for a terminal, so the stage drivers that take a ``Tick`` stay light to import.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from pipeline.records import Tick

__all__ = ["PlainTicker", "Tick", "progress_ticker"]

EVERY_S = 5.0  # a plain line at least this often while a stage advances...
STEPS = 10  # ...and one each time another tenth of it is done


@contextmanager
def progress_ticker(stream: TextIO | None = None) -> Iterator[Tick]:
    """A ticker writing to ``stream`` (default: stdout): rich bars on a terminal, plain lines else.

    A command whose stdout is machine output (``--json``) passes ``sys.stderr``: stdout then
    carries the document alone, and the progress still shows (or lands in a log) on stderr.
    """
    out = sys.stdout if stream is None else stream
    if _is_terminal(out):
        with _rich_ticker(out) as tick:
            yield tick
    else:
        yield PlainTicker(out)


class PlainTicker:
    """``tick`` as plain lines: when a stage starts, then when another tenth is done or ``every``
    seconds have passed with progress, and when it ends; never the same count twice in a row.

    A stage that starts over (its count goes down, as a second judging pass does) starts again.
    """

    def __init__(self, out: TextIO, every: float = EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.out, self.every, self.clock = out, every, clock
        self._last: dict[str, tuple[int, int, float]] = {}  # stage -> (done, tenth, when printed)

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        tenth = done * STEPS // total if total > 0 else STEPS
        last = self._last.get(stage)
        if last is not None:
            last_done, last_tenth, when = last
            if done == last_done or (done > last_done and tenth <= last_tenth and done < total
                                     and now - when < self.every):
                return
        self._last[stage] = (done, tenth, now)
        self.out.write(f"{stage}: {done}/{total}\n")
        self.out.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


@contextmanager
def _rich_ticker(out: TextIO) -> Iterator[Tick]:
    """A rich progress display on ``out`` with one bar per stage, created on its first tick."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(file=out), transient=False) as progress:
        tasks: dict[str, TaskID] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        yield tick
