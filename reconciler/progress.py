"""Apply progress on stderr: a bar on a terminal, a line every few seconds in CI logs."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import click

from reconciler.outcome import Progress

LOG_INTERVAL_S = 5.0


class ProgressReporter:
    def __init__(self, stream: TextIO | None = None, interval: float = LOG_INTERVAL_S) -> None:
        self.stream: TextIO | None = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval
        self.started = time.monotonic()
        self._last_line = self.started
        self._bar: object | None = None
        self._shown = 0

    def __call__(self, p: Progress) -> None:
        if self.stream is None:
            return
        try:
            self._show(p)
        except OSError:
            # Progress is a courtesy: stderr gone (a closed pipe) must not stop the apply.
            self.stream = None

    def _show(self, p: Progress) -> None:
        assert self.stream is not None
        if self.tty:
            self._draw_bar(p)
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval or p.done == p.total:
            self._last_line = now
            rate = p.done / max(now - self.started, 1e-9)
            eta = (p.total - p.done) / rate if rate else 0.0
            print(
                f"apply: {p.done}/{p.total} batches, {rate:.1f}/s, ETA {eta:.0f}s",
                file=self.stream,
                flush=True,
            )

    def _draw_bar(self, p: Progress) -> None:
        # click's bar reads its length once, and extra rounds after conflicts can grow the
        # total, so it is redrawn with a new length when that happens.
        bar = self._bar
        if bar is None or getattr(bar, "length", None) != p.total:
            self.close()
            bar = click.progressbar(
                length=p.total,
                label="Applying",
                file=self.stream,
                show_eta=True,
                show_pos=True,
            )
            bar.__enter__()
            bar.update(p.done)
            self._bar = bar
            self._shown = p.done
            return
        bar.update(p.done - self._shown)  # type: ignore[attr-defined]
        self._shown = p.done

    def close(self) -> None:
        if self._bar is not None:
            bar, self._bar = self._bar, None
            try:
                bar.__exit__(None, None, None)  # type: ignore[attr-defined]
            except OSError:
                self.stream = None
