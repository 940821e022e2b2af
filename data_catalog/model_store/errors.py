"""Errors of the model store: each names the file, the reason and what to run next.

All subclass :class:`data_catalog.errors.WeightsError` (a :class:`~data_catalog.errors.SonorizeError`),
so ``str(error)`` is ``"<path>: <reason>"`` and the command line reports them as one line.
"""

from __future__ import annotations

import os

from data_catalog.errors import WeightsError


def pull_command(name: str) -> str:
    """The exact command that fetches weight ``name`` into the store."""
    return f"sonorize models pull {name}"


class ModelStoreError(WeightsError):
    """Base class of every model-store error."""


class UnknownWeightError(ModelStoreError):
    """A name that is not in the registry."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        super().__init__(None, f"unknown weight {name!r}; known: {', '.join(sorted(known))} "
                               "(see `sonorize models list`)")


class MissingWeightsError(ModelStoreError):
    """A weight file the store does not hold (nothing downloads at run time)."""

    def __init__(self, path: str | os.PathLike, name: str | None = None):
        self.name = name
        self.command = pull_command(name) if name else None
        if name:
            reason = (f"weight {name!r} is not in the model store; fetch it with `{self.command}` "
                      "(on a machine with network, then copy the model directory here or point "
                      "SONORIZE_MODEL_DIR at it)")
        else:
            reason = ("weight file not found; if it belongs to the model store, fetch it with "
                      "`sonorize models pull NAME` (`sonorize models list` shows the names)")
        super().__init__(path, reason)


class CorruptWeightsError(ModelStoreError):
    """A weight file that is truncated, damaged or not what its name says."""

    def __init__(self, path: str | os.PathLike, detail: str, name: str | None = None):
        self.name = name
        self.detail = detail
        again = f"`sonorize models pull {name} --force`" if name else "`sonorize models pull NAME --force`"
        super().__init__(path, f"{detail}; the file is truncated or corrupt: check it with "
                               f"`sonorize models verify{' ' + name if name else ''}` and fetch it again with {again}")


class WeightHashMismatchError(CorruptWeightsError):
    """A file whose size or hash differs from the one the registry (or the first pull) recorded."""

    def __init__(self, path: str | os.PathLike, kind: str, expected: str, actual: str, name: str | None = None):
        self.kind, self.expected, self.actual = kind, expected, actual
        super().__init__(path, f"{kind} mismatch: expected {expected}, got {actual}", name)


class UnsafeWeightsError(ModelStoreError):
    """A pickle that holds objects other than tensors: refused, never executed."""


class StateDictMismatchError(ModelStoreError):
    """Weights whose keys or shapes do not fit the module they are loaded into."""


class WeightDownloadError(ModelStoreError):
    """A pull that failed: no network, a gated repository, a server error."""


class ManualDownloadRequired(WeightDownloadError):
    """A weight its authors publish only where no program can fetch it (a Drive folder)."""
