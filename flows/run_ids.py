"""Run ids: the Prefect flow run's id, so every catalog row and record joins to its Prefect run."""

from __future__ import annotations

import uuid

PREFECT = "prefect"  # the id is the flow run's: look it up in Prefect's UI or API
LOCAL = "local"  # a plain run (no Prefect run): a fresh uuid4, in no Prefect server


def run_id() -> tuple[str, str]:
    """``(id, source)``: the current flow run's id (``prefect``), else a new uuid4 (``local``)."""
    from prefect.runtime import flow_run

    current = flow_run.id
    return (str(current), PREFECT) if current else (str(uuid.uuid4()), LOCAL)


def flow_run_id() -> str | None:
    """The current flow run's id, or None outside one."""
    from prefect.runtime import flow_run

    return str(flow_run.id) if flow_run.id else None
