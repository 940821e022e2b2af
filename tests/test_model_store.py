"""The model store: registry, status, pull (file:// only), safe loading, HF offline layout, CLI.

No test touches the network: pulls use file:// URLs, hub items are placed by hand.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from typer.testing import CliRunner

from data_catalog.errors import SonorizeError, SonorizeInputError, WeightsError
from data_catalog.model_store import (REGISTRY, CorruptWeightsError, HubRepo, ManualDownloadRequired,
                                      MissingWeightsError, ModelStore, StateDictMismatchError, UnsafeWeightsError,
                                      WeightDownloadError, WeightFile, WeightHashMismatchError, WeightSpec,
                                      offline_hf, offline_hf_environment)
from data_catalog.model_store.loading import load_into, load_state_dict, unwrap_state_dict

try:
    import torch
    from safetensors.torch import save_file
except ImportError:  # the base install has no torch: the registry, store and CLI tests still run
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs the 'video' extra (torch, safetensors)")

PAYLOAD = b"sonorize test weights " * 100
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CALLED: list[str] = []


def _spec(name: str, url: str, *, sha: str | None = PAYLOAD_SHA, size: int | None = len(PAYLOAD)) -> WeightSpec:
    return WeightSpec(name=name, description="test", stage="test", licence="CC0", file_format="torch",
                      files=(WeightFile(f"{name}.bin", url=url, size=size, sha256=sha),))


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "upstream" / "tiny.bin"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


@pytest.fixture
def store(tmp_path, source) -> ModelStore:
    registry = {
        "tiny": _spec("tiny", source.as_uri()),
        "tiny-bad-hash": _spec("tiny-bad-hash", source.as_uri(), sha="0" * 64),
        "tiny-unhashed": _spec("tiny-unhashed", source.as_uri(), sha=None, size=None),
        "tiny-offline": _spec("tiny-offline", "http://127.0.0.1:9/tiny.bin"),  # discard port: refused at once
        "tiny-manual": WeightSpec(name="tiny-manual", description="test", stage="test", licence="CC0",
                                  file_format="torch", files=(WeightFile("tiny-manual.bin", sha256=PAYLOAD_SHA),),
                                  manual_url="https://example.invalid/folder"),
        "tiny-hub": WeightSpec(name="tiny-hub", description="test", stage="test", licence="CC0", file_format="json",
                               hub=HubRepo("sonorize-test/tiny-repo", COMMIT),
                               files=(WeightFile("config.json"), WeightFile("sub/extra.json"))),
    }
    return ModelStore(tmp_path / "models", registry=registry)


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# -- registry -------------------------------------------------------------------------------

def test_registry_entries_are_complete():
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.stage and spec.licence and spec.description
        assert spec.file_format in {"safetensors", "torch", "json", "tokenizer"}
        assert spec.hub or spec.manual_url or all(f.url for f in spec.files), name
        for f in spec.files:
            assert f.sha256 is None or len(f.sha256) == 64
    for name in ("raft-large", "tc-clip", "bn-inception", "cavp", "laion-clap", "stable-audio-open", "audiosep",
                 "panns-wavegram-logmel", "bert-base-uncased", "roberta-base", "bart-base"):
        assert name in REGISTRY
    sao = REGISTRY["stable-audio-open"]
    assert [f.filename for f in sao.files] == ["model.safetensors", "model_config.json"]
    # laion_clap asks the hub for these ids verbatim; the cache folder derives from them
    assert {REGISTRY[n].hub.repo_id for n in ("bert-base-uncased", "roberta-base", "bart-base")} == {
        "bert-base-uncased", "roberta-base", "facebook/bart-base"}
    assert REGISTRY["raft-large"].files[0].sha256.startswith("ff5fadd5")


def test_every_registry_entry_is_loaded_by_some_code():
    """No weight the store offers that nothing loads: the code outside the registry names each one.

    A loader may build the name (``f"raft-{size}"``); its module still names the entry it loads.
    """
    import re

    repo = Path(__file__).resolve().parents[1]
    code = "\n".join(path.read_text(encoding="utf-8") for package in ("data_catalog", "folai_models", "tasks", "flows")
                     for path in (repo / package).rglob("*.py") if path.name != "registry.py")
    unnamed = [name for name in REGISTRY if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", code)]
    assert unnamed == []


def test_default_root_is_the_model_dir_setting(tmp_path, monkeypatch):
    from data_catalog.settings import get_settings

    monkeypatch.setenv("SONORIZE_MODEL_DIR", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    assert ModelStore().root == tmp_path / "elsewhere"
    assert str(ModelStore().path("raft-large")).startswith(str(tmp_path / "elsewhere" / "torch" / "hub"))


# -- status ---------------------------------------------------------------------------------

def test_status_present_missing_corrupt(store):
    assert store.status("tiny") == "missing"
    path = store.path("tiny")
    path.parent.mkdir(parents=True)
    path.write_bytes(PAYLOAD)
    assert store.status("tiny") == "present"
    path.write_bytes(PAYLOAD[:-5])  # truncated: caught by size alone
    assert store.status("tiny") == "corrupt"
    path.write_bytes(b"X" + PAYLOAD[1:])  # same size, other bytes
    assert store.status("tiny") == "corrupt"
    assert "sha256" in store.check("tiny")[0].reason


def test_status_uses_the_hash_memo_and_verify_rereads(store, monkeypatch):
    path = store.path("tiny")
    path.parent.mkdir(parents=True)
    path.write_bytes(PAYLOAD)
    assert store.status("tiny") == "present"
    memo = json.loads((store.root / ".hashes.json").read_text())
    assert memo[path.relative_to(store.root).as_posix()]["sha256"] == PAYLOAD_SHA

    import data_catalog.model_store.file_hashes as fh

    def no_hashing(*a, **k):
        raise AssertionError("hashed although size and mtime did not change")

    monkeypatch.setattr(fh, "hash_file", no_hashing)
    assert ModelStore(store.root, registry=store.registry).status("tiny") == "present"
    monkeypatch.undo()

    # Same size and mtime, other bytes (bit rot): the memo cannot see it, verify can.
    st = path.stat()
    path.write_bytes(b"X" + PAYLOAD[1:])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert store.status("tiny") == "present"
    assert store.verify(["tiny"]) == {"tiny": "corrupt"}
    assert store.status("tiny") == "corrupt"  # verify refreshed the memo


def test_missing_weight_error_names_file_and_pull_command(store):
    with pytest.raises(MissingWeightsError) as info:
        store.require("tiny")
    message = str(info.value)
    assert "sonorize models pull tiny" in message
    assert str(store.path("tiny")) in message
    assert isinstance(info.value, WeightsError) and isinstance(info.value, SonorizeError)
    assert not isinstance(info.value, SonorizeInputError)  # the store is at fault, not the user's input
    with pytest.raises(MissingWeightsError, match="sonorize models pull tiny"):
        store.load_state_dict("tiny")


def test_require_refuses_a_corrupt_file(store):
    path = store.path("tiny")
    path.parent.mkdir(parents=True)
    path.write_bytes(PAYLOAD[:10])
    with pytest.raises(CorruptWeightsError, match="sonorize models verify tiny"):
        store.require("tiny")


# -- pull -----------------------------------------------------------------------------------

def test_pull_file_url_end_to_end(store, source):
    seen = []
    path = store.pull("tiny", progress=lambda done, total: seen.append((done, total)))
    assert path == store.path("tiny") and path.read_bytes() == PAYLOAD
    assert store.status("tiny") == "present"
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert not [p for p in _files_under(store.root) if p.name.endswith((".part", ".tmp"))]
    pulled = json.loads((store.root / "pulled.json").read_text())
    assert pulled[path.relative_to(store.root).as_posix()]["sha256"] == PAYLOAD_SHA
    store.pull("tiny", progress=False)  # present and intact: nothing to do


def test_pull_hash_mismatch_leaves_nothing(store):
    with pytest.raises(WeightHashMismatchError) as info:
        store.pull("tiny-bad-hash", progress=False)
    assert "sha256 mismatch" in str(info.value)
    assert _files_under(store.root) == []
    assert store.status("tiny-bad-hash") == "missing"


def test_pull_records_the_hash_of_an_unhashed_entry(store, source):
    store.pull("tiny-unhashed", progress=False)
    assert store.check("tiny-unhashed")[0].reason == "hash ok"  # compared with the recorded sha256
    store.path("tiny-unhashed").write_bytes(b"Y" * len(PAYLOAD))
    assert store.status("tiny-unhashed") == "corrupt"


def test_pull_without_network_is_a_clear_error(store):
    with pytest.raises(WeightDownloadError, match="no network"):
        store.pull("tiny-offline", progress=False)
    assert _files_under(store.root) == []


def test_manual_item_asks_for_from_and_add_file_checks_it(store, source, tmp_path):
    with pytest.raises(ManualDownloadRequired, match="--from FILE"):
        store.pull("tiny-manual", progress=False)
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"nope")
    with pytest.raises(WeightHashMismatchError):
        store.add_file("tiny-manual", wrong)
    assert _files_under(store.root) == []
    store.add_file("tiny-manual", source)
    assert store.status("tiny-manual") == "present"


# -- loading --------------------------------------------------------------------------------

@needs_torch
def test_safetensors_round_trip_and_truncation(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(8, 8)}, str(path))
    assert torch.equal(load_state_dict(path)["w"], torch.ones(8, 8))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CorruptWeightsError) as info:
        load_state_dict(path, name="tiny")
    assert str(path) in str(info.value)
    assert "sonorize models verify tiny" in str(info.value)


@needs_torch
def test_truncated_torch_file_is_corrupt(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"w": torch.ones(64, 64)}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptWeightsError, match="truncated or corrupt"):
        load_state_dict(path)


def test_html_or_lfs_pointer_instead_of_weights(tmp_path):
    path = tmp_path / "w.ckpt"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")
    with pytest.raises(CorruptWeightsError, match="Git LFS pointer"):
        load_state_dict(path)


def _mark_called(*args):
    CALLED.append("executed")
    return {}


class Payload:
    """Unpickling it would run _mark_called: weights-only loading must never do that."""

    def __reduce__(self):
        return (_mark_called, ("pwned",))


class TrainingConfig:
    def __init__(self):
        self.lr = 1e-3

    def __setstate__(self, state):
        CALLED.append("setstate")


@needs_torch
def test_pickled_object_is_refused_and_never_executed(tmp_path):
    CALLED.clear()
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "extra": Payload()}, path)
    with pytest.raises(UnsafeWeightsError) as info:
        load_state_dict(path)
    assert "_mark_called" in str(info.value) and str(path) in str(info.value)
    assert CALLED == []


@needs_torch
def test_inert_globals_load_tensors_without_building_metadata(tmp_path):
    CALLED.clear()
    path = tmp_path / "train.pth"
    torch.save({"model": {"module.w": torch.ones(3)}, "config": TrainingConfig(), "epoch": 7,
                "callbacks": collections.defaultdict(list, {"best": [1.0]})}, path)
    with pytest.raises(UnsafeWeightsError):
        load_state_dict(path)
    state = load_state_dict(path, inert_globals=(TrainingConfig.__module__ + ".", "collections.", "builtins."))
    assert list(state) == ["w"] and torch.equal(state["w"], torch.ones(3))
    assert CALLED == []
    # the inert prefix does not extend to other modules: a payload elsewhere is still refused
    torch.save({"model": {"w": torch.ones(3)}, "x": Payload()}, path)
    with pytest.raises(UnsafeWeightsError):
        load_state_dict(path, inert_globals=("omegaconf.",))


@needs_torch
def test_unwrap_common_containers():
    t = torch.zeros(1)
    assert unwrap_state_dict({"state_dict": {"module.a": t, "module.b": t}}) .keys() == {"a", "b"}
    assert unwrap_state_dict({"model": {"a": t}, "iteration": 3}).keys() == {"a"}
    assert unwrap_state_dict({"ckpt": {"inner": {"a": t}}}, key="ckpt.inner").keys() == {"a"}
    with pytest.raises(CorruptWeightsError, match="not a state dict"):
        unwrap_state_dict({"a": t, "epoch": 3})


@needs_torch
def test_strict_load_names_keys_and_file(tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    path = tmp_path / "net.safetensors"
    wrong = {k: torch.zeros(v.shape) for k, v in net.state_dict().items()}
    wrong["0.weight"] = torch.zeros(5, 4)
    wrong["extra.bias"] = torch.zeros(1)
    del wrong["1.bias"]
    save_file(wrong, str(path))
    with pytest.raises(StateDictMismatchError) as info:
        load_into(net, load_state_dict(path), source=path)
    message = str(info.value)
    assert str(path) in message
    assert "0.weight: file [5, 4] vs model [3, 4]" in message
    assert "missing key(s): 1.bias" in message and "unexpected key(s): extra.bias" in message
    good = {k: torch.full(v.shape, 0.5) for k, v in net.state_dict().items()}
    save_file(good, str(path))
    load_into(net, load_state_dict(path), source=path)
    assert torch.all(net[0].weight == 0.5)


# -- Hugging Face layout, offline -----------------------------------------------------------

def _place_hub_repo(store, tmp_path) -> Path:
    config = tmp_path / "config.json"
    config.write_text('{"hidden_size": 8}')
    extra = tmp_path / "extra.json"
    extra.write_text("{}")
    store.add_file("tiny-hub", config)
    store.add_file("tiny-hub", extra)
    assert store.status("tiny-hub") == "present"
    repo = store.hf_cache_dir / "models--sonorize-test--tiny-repo"
    assert (repo / "refs" / "main").read_text() == COMMIT
    assert store.path("tiny-hub") == repo / "snapshots" / COMMIT / "config.json"
    return repo


def test_hf_hub_download_resolves_from_the_store_offline(store, tmp_path):
    pytest.importorskip("huggingface_hub")
    _place_hub_repo(store, tmp_path)
    env = {**os.environ, **offline_hf_environment(store)}
    code = ("from huggingface_hub import hf_hub_download as d; "
            "print(d('sonorize-test/tiny-repo', 'config.json')); print(d('sonorize-test/tiny-repo', 'sub/extra.json'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(store.path("tiny-hub")), str(store.paths("tiny-hub")[1])]


def test_offline_context_manager_patches_an_imported_hub(store, tmp_path):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants

    _place_hub_repo(store, tmp_path)
    before = (constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE, os.environ.get("HF_HUB_OFFLINE"))
    with offline_hf(store):
        assert huggingface_hub.hf_hub_download("sonorize-test/tiny-repo", "config.json") == str(store.path("tiny-hub"))
        # pull refuses to run offline instead of failing deep inside the hub client
        with pytest.raises(WeightDownloadError, match="HF_HUB_OFFLINE"):
            store.pull("tiny-hub", progress=False, force=True)
    assert (constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE, os.environ.get("HF_HUB_OFFLINE")) == before


@pytest.fixture
def fake_hub(monkeypatch):
    """A loopback server answering the Hub's resolve URLs (HEAD + GET), so hub pulls run without a hub."""
    pytest.importorskip("huggingface_hub")
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from huggingface_hub import constants

    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: bool) -> None:
            data = files.get(self.path.split("?")[0])
            if data is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_HEAD(self):
            self._answer(False)

        def do_GET(self):
            self._answer(True)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    files["endpoint"] = f"http://127.0.0.1:{server.server_port}".encode()
    yield files
    server.shutdown()


def test_pull_from_a_hub_lays_out_the_cache(store, fake_hub):
    base = f"/sonorize-test/tiny-repo/resolve/{COMMIT}"
    fake_hub[f"{base}/config.json"] = b'{"hidden_size": 8}'
    fake_hub[f"{base}/sub/extra.json"] = b"{}"
    store.hf_endpoint = fake_hub["endpoint"].decode()
    store.pull("tiny-hub", progress=False)
    assert store.status("tiny-hub") == "present"
    repo = store.hf_cache_dir / "models--sonorize-test--tiny-repo"
    assert (repo / "refs" / "main").read_text() == COMMIT
    assert store.path("tiny-hub").read_bytes() == b'{"hidden_size": 8}'


def test_hub_pull_with_a_hash_mismatch_removes_the_file(tmp_path, fake_hub):
    spec = WeightSpec(name="hub-bad", description="test", stage="test", licence="CC0", file_format="torch",
                      hub=HubRepo("sonorize-test/bad-repo", COMMIT),
                      files=(WeightFile("w.bin", sha256="0" * 64),))
    store = ModelStore(tmp_path / "models", registry={"hub-bad": spec}, hf_endpoint=fake_hub["endpoint"].decode())
    fake_hub[f"/sonorize-test/bad-repo/resolve/{COMMIT}/w.bin"] = PAYLOAD
    with pytest.raises(WeightHashMismatchError):
        store.pull("hub-bad", progress=False)
    assert not [p for p in _files_under(store.root) if p.name == "w.bin" or "blobs" in p.parts]
    assert store.status("hub-bad") == "missing"


# -- command line ---------------------------------------------------------------------------

@pytest.fixture
def cli(store, monkeypatch):
    import flows.models_cli as models_cli

    monkeypatch.setattr(models_cli, "_store", lambda: store)
    return models_cli.models_app


def test_cli_list_shows_statuses(cli, store):
    store.pull("tiny", progress=False)
    bad = store.path("tiny-bad-hash")
    bad.write_bytes(PAYLOAD)
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│ tiny")}
    assert "present" in rows["tiny"] and "corrupt" in rows["tiny-bad-hash"] and "missing" in rows["tiny-manual"]


def test_cli_verify_exit_codes(cli, store):
    runner = CliRunner()
    assert runner.invoke(cli, ["verify"]).exit_code == 0  # missing weights alone are not an error
    assert runner.invoke(cli, ["verify", "tiny"]).exit_code == 1  # a named one that is missing is
    assert runner.invoke(cli, ["pull", "tiny", "--no-progress"]).exit_code == 0
    assert runner.invoke(cli, ["verify", "tiny"]).exit_code == 0
    store.path("tiny").write_bytes(b"Z" * len(PAYLOAD))
    result = runner.invoke(cli, ["verify"])
    assert result.exit_code == 1 and "corrupt" in result.output


def test_cli_pull_errors(cli):
    runner = CliRunner()
    assert runner.invoke(cli, ["pull", "no-such-weight"]).exit_code == 2
    assert runner.invoke(cli, ["pull"]).exit_code == 2
    result = runner.invoke(cli, ["pull", "tiny-bad-hash", "--no-progress"])
    assert result.exit_code == 1 and "sha256 mismatch" in result.output
