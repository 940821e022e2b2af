"""One settings object for every layer, overridable from the environment.

``SONORIZE_CACHE_DIR``, ``SONORIZE_MODEL_DIR``, ``SONORIZE_CATALOG_DIR`` and
``SONORIZE_OUTPUT_DIR`` override the defaults, which follow the XDG layout.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


class Settings(BaseSettings):
    """Locations and limits; every field reads ``SONORIZE_<FIELD>`` first."""

    model_config = SettingsConfigDict(env_prefix="SONORIZE_", extra="ignore")

    cache_dir: Path = _xdg("XDG_CACHE_HOME", ".cache") / "sonorize"
    model_dir: Path = _xdg("XDG_DATA_HOME", ".local/share") / "sonorize" / "models"
    catalog_dir: Path = _xdg("XDG_DATA_HOME", ".local/share") / "sonorize" / "catalog"
    output_dir: Path = Path("sonorize-out")
    video2rms_checkpoint: Path | None = None  # a trained envelope model; default: the shipped one
    # the trained envelope ControlNet of the folai synth engine; default: <model_dir>/folai-controlnet/best.safetensors
    folai_controlnet_checkpoint: Path | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once; tests call ``get_settings.cache_clear()``)."""
    return Settings()
