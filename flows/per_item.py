"""One item of a batch at a time, where one item's failure never stops the others.

Every batch flow (``sonorize``, ``features``, ``preprocess``, ``separate``)
runs its items through :func:`for_each_item` (or, for work in two halves,
:func:`for_each_item_overlapped`): an error a user can act on
(:class:`~data_catalog.errors.SonorizeError`: a bad file, a full disk) is
recorded as one line naming the file and the reason; any other exception is a
bug: it is logged with its traceback, recorded as an internal error, and the
batch goes on.
"""

from __future__ import annotations

import logging
import threading
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
        _close_item(summary(result), started, overwrite_wall_s, progress, name)
        results.append(result)
    return results


def _close_item(record: dict, started: float, overwrite_wall_s: bool, progress, name: str, key: object = None) -> None:
    """Write the item's seconds since ``started`` into its record (see ``overwrite_wall_s``) and tell the progress."""
    wall = round(time.perf_counter() - started, 3)
    if overwrite_wall_s:
        record["wall_s"] = wall
    else:
        record.setdefault("wall_s", wall)
    if key is None:  # the sequential path's progress objects need not know keys
        progress.done(name, record["status"])
    else:
        progress.done(name, record["status"], key=key)


class _Ahead:
    """``first(item)`` running in a daemon thread: its value, or the exception it raised.

    A daemon thread, not an executor's: at exit (Ctrl-C) Python joins an executor's threads,
    so the command would wait for the next video's whole analysis before stopping.
    """

    def __init__(self, first: Callable[[], Any]):
        self.started = time.perf_counter()
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(first,), name="sonorize-ahead", daemon=True)
        self._thread.start()

    def _run(self, first: Callable[[], Any]) -> None:
        try:
            self._value = first()
        except BaseException as exc:  # re-raised where the item is finished, by run_item's rules
            self._error = exc

    def result(self) -> Any:
        while self._thread.is_alive():  # a timed join: Ctrl-C still reaches the main thread
            self._thread.join(0.5)
        if self._error is not None:
            raise self._error
        return self._value


def for_each_item_overlapped(items: Iterable[Item], first: Callable[[Item, Callable[[str], None]], Any],
                             then: Callable[[Item, Any, Callable[[str], None]], Result],
                             failed: Callable[[Item, str], Result], *, label: Callable[[Item], str], progress,
                             summary: Callable[[Result], dict] = lambda result: result, logger=None,
                             overwrite_wall_s: bool = True) -> list[Result]:
    """:func:`for_each_item` for work in two halves, the next item's first half beside this one's second.

    Item ``i + 1``'s ``first`` runs in a thread while item ``i``'s ``then`` runs in the caller's
    thread: at most two items in flight, first halves one at a time and second halves one at a
    time, in input order. An exception of ``first`` is raised again inside ``then``'s place, so a
    failure is recorded (and a bug logged) as :func:`for_each_item` does, here, in order.

    Parameters
    ----------
    first : the item's first half (``first(item, stage)``); what it returns goes to ``then``.
        It runs beside another item's ``then``: the two must share nothing unguarded.
    then : the item's result from it and the first half's value (``then(item, value, stage)``).
    items, failed, label, progress, summary, logger, overwrite_wall_s : as :func:`for_each_item`;
        ``wall_s`` counts from the start of the item's first half.

    Returns
    -------
    The results, in the order of ``items``.
    """
    logger = logger or run_logger()
    items = list(items)

    def start(index: int) -> _Ahead:
        name = Path(label(items[index])).name
        return _Ahead(lambda: first(items[index], lambda s: progress.stage(name, s, key=index)))

    results = []
    ahead = start(0) if items else None
    for index, item in enumerate(items):
        current = ahead
        try:
            current.result()  # its first half is done (or failed: raised again below, in order)
        except Exception:
            pass
        ahead = start(index + 1) if index + 1 < len(items) else None
        text = label(item)
        name = Path(text).name
        result = run_item(item, lambda i: then(i, current.result(), lambda s: progress.stage(name, s, key=index)),
                          failed, label=text, logger=logger)
        _close_item(summary(result), current.started, overwrite_wall_s, progress, name, key=index)
        results.append(result)
    return results


def failed_record(key: str = "video_path") -> Callable[[Any, str], dict]:
    """``failed`` for results that are one dict: ``{key: label, "status": "failed", "error": reason}``."""

    def failed(item, reason: str) -> dict:
        return {key: str(item), "status": "failed", "error": reason}

    return failed
