"""Progress as plain lines when the output is no terminal (a log, a pipe), rich bars when it is."""

from __future__ import annotations

import io

import pytest

from flows.progress import PlainTicker, progress_ticker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_at_the_start_each_tenth_and_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    tick = PlainTicker(out, every=5.0, clock=clock)
    for done in range(101):
        tick("hashing", done, 100)
        tick("hashing", done, 100)  # a repeated count prints nothing
    assert out.getvalue().splitlines() == [f"hashing: {n}/100" for n in range(0, 101, 10)]


def test_plain_lines_every_few_seconds_while_a_stage_advances() -> None:
    out, clock = io.StringIO(), Clock()
    tick = PlainTicker(out, every=5.0, clock=clock)
    for done in range(40):  # 40 of 10,000 steps, one per second: never a new tenth
        clock.now = float(done)
        tick("training", done, 10_000)
    assert out.getvalue().splitlines() == [f"training: {n}/10000" for n in (0, 5, 10, 15, 20, 25, 30, 35)]


def test_stages_apart_and_a_stage_that_starts_over() -> None:
    out = io.StringIO()
    tick = PlainTicker(out, clock=Clock())
    tick("judging", 0, 3)
    tick("reading headers", 0, 0)
    tick("judging", 3, 3)
    tick("judging", 0, 2)  # a second judging pass
    assert out.getvalue().splitlines() == ["judging: 0/3", "reading headers: 0/0", "judging: 3/3",
                                           "judging: 0/2"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream", [io.StringIO(), Terminal()], ids=["pipe", "terminal"])
def test_progress_goes_to_the_stream_asked_for(stream: io.StringIO, capsys) -> None:
    with progress_ticker(stream) as tick:
        tick("evaluate", 1, 2)
        tick("evaluate", 2, 2)
    assert "evaluate" in stream.getvalue() and "2/2" in stream.getvalue()
    assert ("\x1b[" in stream.getvalue()) is isinstance(stream, Terminal)  # plain lines: no escapes
    assert capsys.readouterr().out == ""  # stdout stays clean for --json


def test_stdout_by_default(capsys) -> None:
    with progress_ticker() as tick:  # pytest's captured stdout is no terminal
        tick("downloading", 0, 4)
    assert capsys.readouterr().out == "downloading: 0/4\n"
