"""How the package declares its Prefect tasks: a plain function that becomes a task inside a run.

Importing Prefect costs more than a second, and the single-file commands
(``sonorize envelope``, ``sonorize synth``) never run inside a flow run. So a
step is declared with :func:`pipeline_task`: the module keeps the plain
function (``.fn``) and the task options (name, tags, retries, cache key), and
the Prefect task is built on the first call made inside a flow or task run.
Outside any run the call is the plain function: no Prefect import, no API
server started only to record it (issue 19).

Caching: arrays pass between tasks in memory and most steps write files, so
results are persisted only for the steps given a ``cache_key_fn``; each key
names the task and every argument its result depends on (a content hash or a
file's identity, and the options), so a cached result is never returned for
other options or another file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

CACHE_EXPIRATION = timedelta(days=30)  # persisted results older than this are recomputed


def sonorize_version() -> str:
    """The installed package's version (``unknown`` when run from a folder without installing)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sonorize")
    except PackageNotFoundError:
        return "unknown"


def in_prefect_run() -> bool:
    """Whether this call happens inside a Prefect flow or task run (never imports Prefect itself)."""
    if "prefect" not in sys.modules:  # nothing imported Prefect: no run can be active
        return False
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


class PipelineTask:
    """A step of the pipeline: its plain function plus the options of the Prefect task it runs as.

    Call it like the function: inside a flow or task run it runs as a Prefect task run (named,
    tagged, retried, cached as declared); outside one it is the plain function. ``.task`` is the
    Prefect task itself (for ``submit`` and task runners).
    """

    def __init__(self, fn: Callable, **options):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name: str = options["name"]
        self.tags: frozenset[str] = frozenset(options.get("tags") or ())
        self.retries: int = options.get("retries", 0)
        self.cache_key_fn: Callable | None = options.get("cache_key_fn")
        self.options = options

    @functools.cached_property
    def task(self):
        from prefect import task
        from prefect.cache_policies import NONE

        options = dict(self.options)
        if self.cache_key_fn is None:
            options.update(cache_policy=NONE, persist_result=False)
        else:
            options.update(persist_result=True, cache_expiration=CACHE_EXPIRATION)
        return task(self.fn, **options)

    def __call__(self, *args, **kwargs):
        if in_prefect_run():
            return self.task(*args, **kwargs)
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"PipelineTask({self.name!r})"


def pipeline_task(*, name: str, tags: tuple[str, ...] = (), retries: int = 0, retry_delay_seconds: float = 0,
                  cache_key_fn: Callable | None = None) -> Callable[[Callable], PipelineTask]:
    """Declare a function as a pipeline step (see :class:`PipelineTask`).

    Tags are for the steps that do a video's work (features, envelope, synthesis, separation,
    buckets): Prefect acquires tag concurrency slots for every tagged task run, one API round
    trip each (about a second on the temporary server), so the small bookkeeping steps a
    video runs several times (probe, hash, outputs, catalog rows) carry none.
    """
    options: dict[str, Any] = {"name": name, "tags": list(tags)}
    if retries:
        options.update(retries=retries, retry_delay_seconds=retry_delay_seconds)
    if cache_key_fn is not None:
        options["cache_key_fn"] = cache_key_fn

    def decorate(fn: Callable) -> PipelineTask:
        return PipelineTask(fn, **options)

    return decorate


# --- cache keys -------------------------------------------------------------------------------

def file_identity(path) -> str:
    """A file's identity without reading it: absolute path, inode, size and modification time (ns).

    Any rewrite changes the size or the modification time; a missing file gets no
    identity (its key then never matches a file that exists).
    """
    try:
        info = os.stat(path)
    except OSError:
        return f"missing:{os.path.abspath(path)}"
    return f"{os.path.abspath(path)}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"


def cache_key(task_name: str, **parts) -> str:
    """A cache key naming the task and every value its result depends on."""
    text = json.dumps({"task": task_name, **parts}, sort_keys=True, default=str)
    return f"{task_name}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:40]}"


def keyed_by_file(path_parameter: str, *option_parameters: str) -> Callable:
    """A ``cache_key_fn``: the task's name, the identity of the file in ``path_parameter`` and the options."""

    def key(context, parameters: dict) -> str:
        return cache_key(context.task.name, file=file_identity(parameters[path_parameter]),
                         **{name: parameters.get(name) for name in option_parameters})

    return key
