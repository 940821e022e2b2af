"""Shared fixtures: isolated settings and small media made with ffmpeg."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

# Before anything imports Prefect: its home (database, results) in a temporary folder, quiet
# logs (an INFO line at interpreter exit would go to pytest's closed capture stream).
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="sonorize-prefect-"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# A loaded 2-core CI machine can take longer than Prefect's default 20 s to start its API.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# Module-scoped fixtures run before the per-test isolation below: never let them reach ~/.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="sonorize-test-home-"))
for _name in ("CACHE", "CATALOG", "MODEL", "OUTPUT"):
    os.environ[f"SONORIZE_{_name}_DIR"] = str(_SESSION_HOME / _name.lower())

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DEV_DATA = REPO_ROOT.parent / "shared" / "data" / "greatest-hits-dev"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch):
    """Every test gets its own cache, catalog and Prefect home (no ~/.prefect writes)."""
    from data_catalog.settings import get_settings

    base = tmp_path_factory.mktemp("sonorize-home")
    monkeypatch.setenv("SONORIZE_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("SONORIZE_CATALOG_DIR", str(base / "catalog"))
    monkeypatch.setenv("SONORIZE_MODEL_DIR", str(base / "models"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    get_settings.cache_clear()
    yield base
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def prefect_home() -> Path:
    """The session's Prefect home (set above, before Prefect is imported)."""
    return Path(os.environ["PREFECT_HOME"])


@pytest.fixture(scope="session")
def shared_prefect_server(tmp_path_factory):
    """One `prefect server start` on loopback for the session's deployment, operations and bucket-watcher tests.

    Both pools made by docker/work-pools.sh (no GPU_SLOTS) and prefect.yaml's `batch`, `watcher` and
    `nightly` deployments. Starting, pooling and deploying costs ~35 s on 2 cores, so it is done once;
    tests count only the flow runs they started and undo server-wide settings they change.
    """
    from live_servers import PREFECT, PrefectServer, kill_tree

    home = tmp_path_factory.mktemp("prefect-server")
    server = PrefectServer(home)
    try:
        server.wait_healthy()
        pools = subprocess.run(["bash", str(REPO_ROOT / "docker" / "work-pools.sh")], cwd=REPO_ROOT,
                               env={**server.env, "PREFECT": PREFECT}, capture_output=True, text=True, timeout=180)
        assert pools.returncode == 0, pools.stdout + pools.stderr
        out = server.cli("--no-prompt", "deploy", "--name", "nightly", "--name", "watcher", "--name", "batch")
        assert "sonorize/batch" in out and "benchmark/nightly" in out, out[-3000:]
        yield server
    finally:
        kill_tree(server.proc)


@pytest.fixture(scope="session")
def shared_moto(tmp_path_factory):
    """One moto S3 server on loopback for the session's bucket tests (each test file uses its own buckets)."""
    from live_servers import MotoServer, kill_tree

    server = MotoServer(tmp_path_factory.mktemp("moto"))
    try:
        server.wait_ready()
        yield server
    finally:
        kill_tree(server.proc)


@pytest.fixture
def one_torch_thread():
    """Tiny models: one thread is many times faster than two on shared cores (0.08 s vs 5 s a step, measured)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def dev_data() -> Path:
    """The Greatest Hits development set, or a skip where it is absent (a user's clone)."""
    if not (SHARED_DEV_DATA / "videos").is_dir():
        pytest.skip(f"development data not found at {SHARED_DEV_DATA} (only on the developers' machines)")
    return SHARED_DEV_DATA


def pytest_collection_modifyitems(config, items):
    if shutil.which("ffmpeg") is None:
        skip = pytest.mark.skip(reason="ffmpeg not on PATH (run setup.sh)")
        for item in items:
            if "needs_ffmpeg" in item.keywords:
                item.add_marker(skip)
