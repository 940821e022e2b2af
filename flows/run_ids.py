"""Run ids: the Prefect flow run's id, so every catalog row and record joins to its Prefect run."""

from __future__ import annotations

import os
import sys
import uuid

PREFECT = "prefect"  # the id is the flow run's: look it up in Prefect's UI or API
LOCAL = "local"  # a plain run (no Prefect run): a fresh uuid4, in no Prefect server
FLOW_RUN_ID_VARIABLE = "PREFECT__FLOW_RUN_ID"  # set by Prefect in a deployment's flow-run process


def run_id() -> tuple[str, str]:
    """``(id, source)``: the current flow run's id (``prefect``), else a new uuid4 (``local``)."""
    current = flow_run_id()
    return (current, PREFECT) if current else (str(uuid.uuid4()), LOCAL)


def flow_run_id() -> str | None:
    """The current flow run's id, or None outside one.

    A run's context exists only once Prefect is imported, and a flow-run process names its run in
    the environment: with neither there is no run, and Prefect (seconds to import) is not loaded to say so.
    """
    if "prefect" not in sys.modules and not os.environ.get(FLOW_RUN_ID_VARIABLE):
        return None
    from prefect.runtime import flow_run

    return str(flow_run.id) if flow_run.id else None
