"""Progress on long batches: a rich progress bar on a terminal, log lines otherwise."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class BatchProgress:
    """Reports per-video stages; silent unless ``enabled``.

    Items in flight at once (an overlapped batch: one video's analysis beside the previous
    one's outputs) are told apart by ``key`` (default: the name) and shown side by side.
    Safe to call from several threads.
    """

    def __init__(self, total: int, enabled: bool, console: Console | None = None):
        self.enabled = enabled
        self._progress = None
        self._lock = threading.Lock()
        self._active: dict[object, str] = {}  # key -> "name: stage", in the order the items started
        self.line = ""  # the stage text shown now: the item just finished, then what is in flight
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("{task.fields[stage]}"),
                console=console or Console(stderr=True), transient=False,
            )
            self._task = self._progress.add_task("sonorize", total=total, stage="")

    def __enter__(self) -> "BatchProgress":
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.stop()

    def stage(self, name: str, stage: str, key: object = None) -> None:
        with self._lock:
            self._active[name if key is None else key] = f"{name}: {stage}"
            self._show()

    def done(self, name: str, status: str, key: object = None) -> None:
        with self._lock:
            self._active.pop(name if key is None else key, None)
            self._show(f"{name}: {status}", advance=1)

    def _show(self, finished: str | None = None, advance: int = 0) -> None:
        self.line = " | ".join(([finished] if finished else []) + list(self._active.values()))
        if self._progress:
            self._progress.update(self._task, advance=advance, stage=self.line)
