"""The model store: a registry of every pretrained weight, a local folder holding them, safe loading.

``sonorize models list|pull|verify`` drives it from the command line. Run-time code calls
:meth:`ModelStore.require` / :meth:`ModelStore.load_state_dict`, which never download.
"""

from data_catalog.model_store.errors import (CorruptWeightsError, ManualDownloadRequired, MissingWeightsError,
                                             ModelStoreError, StateDictMismatchError, UnknownWeightError,
                                             UnsafeWeightsError, WeightDownloadError, WeightHashMismatchError,
                                             pull_command)
from data_catalog.model_store.hf_cache import offline_hf, offline_hf_environment
from data_catalog.model_store.registry import REGISTRY, HubRepo, WeightFile, WeightSpec, get_spec
from data_catalog.model_store.store import FileCheck, ModelStore

__all__ = [
    "REGISTRY", "CorruptWeightsError", "FileCheck", "HubRepo", "ManualDownloadRequired", "MissingWeightsError",
    "ModelStore", "ModelStoreError", "StateDictMismatchError", "UnknownWeightError", "UnsafeWeightsError",
    "WeightDownloadError", "WeightFile", "WeightHashMismatchError", "WeightSpec", "get_spec", "offline_hf",
    "offline_hf_environment", "pull_command",
]


def __getattr__(name: str):
    # loading.py imports torch lazily; keep `import data_catalog.model_store` free of it
    if name in ("load_state_dict", "load_into", "unwrap_state_dict", "select_prefix"):
        from data_catalog.model_store import loading

        return getattr(loading, name)
    raise AttributeError(name)
