"""Progress of a suite: a bar on a terminal, one plain line per benchmark otherwise (CI logs
and the worker's log tail must stay readable, without carriage returns)."""

from __future__ import annotations

import sys
import time
from typing import IO


class Progress:
    def __init__(self, total: int, stream: IO[str] | None = None,
                 interactive: bool | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.done = 0
        self.start = time.monotonic()
        if interactive is None:
            interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar = None
        if interactive:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, file=self.stream, unit="bench", leave=True)

    def begin(self, label: str) -> None:
        if self._bar is not None:
            self._bar.set_description(label)

    def finish(self, label: str, status: str, summary: str) -> None:
        self.done += 1
        line = (f"[{self.done}/{self.total}] {label} {status}"
                f"{' ' + summary if summary else ''} ({time.monotonic() - self.start:.0f}s)")
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
            self._bar.update(1)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
