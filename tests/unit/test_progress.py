"""Apply's progress on stderr is a courtesy: a stderr that is gone never stops an apply."""

from __future__ import annotations

import io

from reconciler.outcome import Progress
from reconciler.progress import ProgressReporter


class ClosedPipe(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty, self.writes = tty, 0

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.writes += 1
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stderr_silences_progress_instead_of_failing_the_apply() -> None:
    for tty in (False, True):
        stream = ClosedPipe(tty)
        reporter = ProgressReporter(stream, interval=0)
        reporter(Progress(1, 3))  # raised BrokenPipeError before
        reporter(Progress(2, 3))
        reporter(Progress(3, 3))
        reporter.close()
        assert stream.writes == 1  # tried once, then left alone


def test_progress_lines_in_a_log() -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(stream, interval=0)
    reporter(Progress(1, 2))
    reporter(Progress(2, 2))
    lines = stream.getvalue().splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["apply: 1/2 batches", "apply: 2/2 batches"]
