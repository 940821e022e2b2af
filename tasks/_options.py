"""Task defaults shared by every task in the package."""

from prefect.cache_policies import NONE

# Arrays pass between tasks in memory; resuming is keyed on content by the
# flow (sha256 of the video + settings), so Prefect's own result cache and
# result persistence stay off.
TASK_DEFAULTS = {"cache_policy": NONE, "persist_result": False}


def run_task(task, *args, **kwargs):
    """Call ``task`` as a Prefect task inside a flow or task run, else as its plain function.

    Outside any run (``sonorize run`` without a Prefect server, the single-file commands) a task
    call would make Prefect start its temporary API server (seconds per command) only to record it.
    """
    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return task.fn(*args, **kwargs)
    return task(*args, **kwargs)
