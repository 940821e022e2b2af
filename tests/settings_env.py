"""Point sonorize's settings (SONORIZE_* variables) at a test's folders."""

from __future__ import annotations

import contextlib
import os

from data_catalog.settings import get_settings


@contextlib.contextmanager
def settings_environment(variables: dict[str, str]):
    """Set ``variables`` for a block and restore them after (module-scope fixtures have no monkeypatch)."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


def use_settings(monkeypatch, variables: dict[str, str]) -> None:
    """Set ``variables`` for one test (monkeypatch restores them) and drop the cached settings."""
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
