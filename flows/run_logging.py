"""Logs of a run: one line per bad input, tracebacks only for bugs.

Prefect logs every exception that leaves a task or a flow at ERROR with its
traceback, and a deployment's flow-run process logs a failed flow run's
exception once more ("Engine execution exited with unexpected exception").
For a bad video (a :class:`~data_catalog.errors.SonorizeError`) that is
~20 lines naming temporary files, although the flow logs the video's own line
(file and reason) and records it; for a batch whose videos failed
(:class:`VideosFailed`) the Failed state already says "N of M videos failed".
These filters drop or shorten exactly those records; any other exception keeps
its traceback.
"""

from __future__ import annotations

import logging
import re

from data_catalog.errors import SonorizeError

TASK_RUN_LOGGER = "prefect.task_runs"
FLOW_RUN_LOGGER = "prefect.flow_runs"
# prefect 3.8.8's messages: the task engine's finished line quoting exception_to_failed_state's
# message, and flow_engine.run_flow's error_logger line in a deployment's flow-run process.
_TASK_FAILED_BY = re.compile(r"Finished in state Failed\('Task run encountered an exception (\w+):")
_ENGINE_EXITED = "Engine execution exited with unexpected exception"


class VideosFailed(Exception):
    """A batch finished and some of its videos failed; ``run`` is its batch record."""

    def __init__(self, message: str, run: dict):
        super().__init__(message)
        self.run = run


def _input_error_names() -> set[str]:
    names, todo = set(), [SonorizeError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


def _expected(record: logging.LogRecord) -> bool:
    return bool(record.exc_info) and isinstance(record.exc_info[1], (SonorizeError, VideosFailed))


class TaskInputErrors(logging.Filter):
    """Drop the traceback and finished line of a task that failed on a bad input (the flow logs it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _expected(record):
            return False
        if record.levelno >= logging.ERROR:
            match = _TASK_FAILED_BY.match(record.getMessage())
            if match and match.group(1) in _input_error_names():
                return False
        return True


class FlowInputErrors(logging.Filter):
    """A flow that stopped on a bad input or failed videos: its one line, no traceback, no repeat."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _expected(record):
            return True
        if record.getMessage().startswith(_ENGINE_EXITED):  # the Failed state already says it
            return False
        record.exc_info, record.exc_text = None, None
        return True


def quiet_input_error_tracebacks() -> None:
    """Install both filters on Prefect's run loggers in this process (idempotent)."""
    for name, kind in ((TASK_RUN_LOGGER, TaskInputErrors), (FLOW_RUN_LOGGER, FlowInputErrors)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
