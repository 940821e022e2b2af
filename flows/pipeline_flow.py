"""How a flow module declares its Prefect flow: a plain function, the flow built when first read.

Importing Prefect costs seconds and ~150 MB (pandas comes with it), and
``sonorize run`` without a Prefect server runs the batch as plain calls (issue
19). So, as :func:`tasks._options.pipeline_task` does for steps, a flow module
keeps its function plain and declares the flow's options in a
:class:`PipelineFlow`. Prefect finds a flow by reading the function's name from
its module (a deployment's entrypoint ``flows.sonorize_flow.sonorize_batch``,
``to_deployment``/``serve``, which take the entrypoint from the function's name)
and accepts only a ``prefect.Flow`` there; the module's ``__getattr__``
(:func:`flow_module_getattr`, PEP 562) builds that flow the first time the name is
read, so everything Prefect does with it works as with ``@flow``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable


class PipelineFlow:
    """A flow of the pipeline: its plain function (``.fn``) and the options of its Prefect flow (``.flow``)."""

    def __init__(self, fn: Callable, **options):
        self.fn = fn
        self.name: str = options["name"]
        self.options = options

    @functools.cached_property
    def flow(self):
        """The Prefect flow (one object per declaration: Prefect compares flows by identity)."""
        from prefect import flow

        return flow(self.fn, **self.options)

    def __repr__(self) -> str:
        return f"PipelineFlow({self.name!r})"


def flow_module_getattr(module: str, *flows: PipelineFlow) -> Callable[[str], object]:
    """A flow module's ``__getattr__``: each declared flow's Prefect flow under its function's name.

    The module must not keep the plain function under that name (``del`` it after declaring),
    else the name is found first and this is never asked.
    """
    by_name = {declared.fn.__name__: declared for declared in flows}

    def __getattr__(name: str):
        if name not in by_name:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return by_name[name].flow

    return __getattr__
