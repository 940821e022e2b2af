"""Progress on long batches: a rich progress bar on a terminal, log lines otherwise."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class BatchProgress:
    """Reports per-video stages; silent unless ``enabled``."""

    def __init__(self, total: int, enabled: bool, console: Console | None = None):
        self.enabled = enabled
        self._progress = None
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

    def stage(self, name: str, stage: str) -> None:
        if self._progress:
            self._progress.update(self._task, stage=f"{name}: {stage}")

    def done(self, name: str, status: str) -> None:
        if self._progress:
            self._progress.update(self._task, advance=1, stage=f"{name}: {status}")
