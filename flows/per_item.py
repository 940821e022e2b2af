"""One item of a batch at a time, where one item's failure never stops the others.

Every batch flow (``sonorize``, ``features``, ``preprocess``, ``separate``)
runs its items through :func:`for_each_item`: an error a user can act on
(:class:`~data_catalog.errors.SonorizeError`: a bad file, a full disk) is
recorded as one line naming the file and the reason; any other exception is a
bug: it is logged with its traceback, recorded as an internal error, and the
batch goes on.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from data_catalog.errors import SonorizeError

Item = TypeVar("Item")
Result = TypeVar("Result")


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The flow or task run's logger inside a Prefect run, else the ``sonorize`` logger (plain runs)."""
    from tasks._options import in_prefect_run

    if in_prefect_run():
        from prefect import get_run_logger

        return get_run_logger()
    return logging.getLogger("sonorize")


def internal_error(label: str, exc: BaseException) -> str:
    """The one-line record of a bug (its traceback goes to the log)."""
    return f"{label}: internal error {type(exc).__name__}: {exc}"


def run_item(item: Item, work: Callable[[Item], Result], failed: Callable[[Item, str], Result], *,
             label: str, logger=None) -> Result:
    """``work(item)``, or ``failed(item, reason)`` when it raises (a bug is logged with its traceback)."""
    try:
        return work(item)
    except SonorizeError as exc:
        return failed(item, str(exc))
    except Exception as exc:  # one unexpected bug must not stop the other items
        (logger or run_logger()).error("unexpected error on %s:\n%s", label, traceback.format_exc())
        return failed(item, internal_error(label, exc))


def for_each_item(items: Iterable[Item], work: Callable[[Item, Callable[[str], None]], Result],
                  failed: Callable[[Item, str], Result], *, label: Callable[[Item], str], progress,
                  summary: Callable[[Result], dict] = lambda result: result, logger=None,
                  overwrite_wall_s: bool = True) -> list[Result]:
    """Run ``work(item, stage)`` on every item, in order; one failure never stops the batch.

    Parameters
    ----------
    items : what the batch processes.
    work : makes one item's result; ``stage(text)`` reports what it is doing (progress bar).
    failed : the result of an item that failed, from the item and the one-line reason.
    label : the item's path or URL (names it in errors; its file name names it in the progress bar).
    progress : a :class:`flows.progress.BatchProgress`.
    summary : the result's dict holding ``status``; ``wall_s`` (the item's seconds) is written into
        it (kept when ``overwrite_wall_s`` is False and the work set its own).
    logger : where bugs are logged with their traceback (default: the run's logger).

    Returns
    -------
    The results, in the order of ``items``.
    """
    logger = logger or run_logger()
    results = []
    for item in items:
        text = label(item)
        name = Path(text).name
        started = time.perf_counter()
        result = run_item(item, lambda i: work(i, lambda s: progress.stage(name, s)), failed, label=text,
                          logger=logger)
        record = summary(result)
        wall = round(time.perf_counter() - started, 3)
        if overwrite_wall_s:
            record["wall_s"] = wall
        else:
            record.setdefault("wall_s", wall)
        progress.done(name, record["status"])
        results.append(result)
    return results


def failed_record(key: str = "video_path") -> Callable[[Any, str], dict]:
    """``failed`` for results that are one dict: ``{key: label, "status": "failed", "error": reason}``."""

    def failed(item, reason: str) -> dict:
        return {key: str(item), "status": "failed", "error": reason}

    return failed
