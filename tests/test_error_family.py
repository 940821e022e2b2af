"""One error family: every error a user can act on is a SonorizeError of one of four kinds.

The command line shows such an error as one line (exit 2); any other exception is a
programming error and keeps its traceback.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_catalog.errors import (CheckpointError, OutputError, SonorizeError, SonorizeInputError, WeightsError,
                                 output_error)

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("data_catalog", "folai_models", "tasks", "flows")
BRANCHES = (SonorizeInputError, OutputError, WeightsError, CheckpointError)
# Exceptions that never reach a user: each is caught where it is raised, and why.
INTERNAL = {
    "data_catalog.targets._Invalid": "a cached target that fails validation: logged, deleted and recomputed",
    "data_catalog.feature_cache.InvalidCacheFile": "a cache file that fails validation: recomputed",
    "data_catalog.media.mux._MuxAttemptFailed": "one muxing attempt; the next codec is tried",
    "flows.run_logging.VideosFailed": "a batch's Failed state; each video's own SonorizeError is recorded",
    "folai_models.steps.pose.MediaPipeMissing": "an ImportError of the pure-science package; "
                                                "tasks.step_engines turns it into a SonorizeInputError",
}
# Base-class names that may make a class an exception (the modules defining one are imported to check).
_EXCEPTION_HINTS = ("Error", "Exception", "Missing", "Failed", "Invalid", "Warning")


def _modules_defining_exceptions() -> dict[str, set[str]]:
    """module name -> names of classes whose bases look like exceptions (read from the source, nothing imported)."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and any(
                        hint in ast.unparse(base) for base in node.bases for hint in _EXCEPTION_HINTS):
                    found.setdefault(module, set()).add(node.name)
    return found


def _family(root: type) -> set[type]:
    seen, todo = set(), [root]
    while todo:
        cls = todo.pop()
        seen.add(cls)
        todo += [sub for sub in cls.__subclasses__() if sub not in seen]
    return seen


def test_every_error_class_in_the_repo_is_in_the_family_or_internal():
    outside = []
    checked = 0
    for module_name, names in _modules_defining_exceptions().items():
        module = importlib.import_module(module_name)
        for name in names:
            cls = getattr(module, name)
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                continue
            checked += 1
            qualified = f"{module_name}.{name}"
            if not issubclass(cls, SonorizeError) and qualified not in INTERNAL:
                outside.append(qualified)
    assert checked >= 25, checked  # the scan found the repository's errors
    assert not outside, f"exceptions outside the SonorizeError family (add them to it, or to INTERNAL with why): {outside}"
    for qualified in INTERNAL:  # the allow-list names classes that exist
        module_name, name = qualified.rsplit(".", 1)
        assert isinstance(getattr(importlib.import_module(module_name), name), type), qualified


def test_every_sonorize_error_is_input_output_weights_or_checkpoint():
    for module_name in _modules_defining_exceptions():
        importlib.import_module(module_name)
    members = {cls for cls in _family(SonorizeError) if cls.__module__.split(".")[0] in PACKAGES}
    assert {"SeparationWeightsMissing", "MissingWeightsError", "SettingMissing", "BadKeyError"} <= {
        cls.__name__ for cls in members}
    loose = sorted(cls.__name__ for cls in members - {SonorizeError} if not issubclass(cls, BRANCHES))
    assert not loose, loose
    # the four kinds are disjoint: a handler for one never catches another by accident
    for a in BRANCHES:
        for b in BRANCHES:
            assert a is b or not issubclass(a, b), (a, b)


def test_each_kind_says_path_and_reason_and_output_errors_stay_oserrors(tmp_path):
    for kind in BRANCHES:
        error = kind(tmp_path / "x.bin", "the reason")
        assert str(error) == f"{tmp_path / 'x.bin'}: the reason"
        assert (error.path, error.reason) == (str(tmp_path / "x.bin"), "the reason")
        assert str(kind(None, "only a reason")) == "only a reason"
        alone = kind("a message alone")  # as registries raise error(message)
        assert (str(alone), alone.path, alone.reason) == ("a message alone", None, "a message alone")
    full = output_error(tmp_path / "out.wav", OSError(28, "No space left on device"))
    assert isinstance(full, OSError) and full.errno == 28
    assert str(full) == f"{tmp_path / 'out.wav'}: cannot write: no space left on device"


@pytest.mark.parametrize("error", [
    SonorizeInputError("/videos/a.mp4", "no video stream"),
    OutputError("/out", "cannot write: read-only file system", 30),
    WeightsError("/models/x.pth", "weight 'x' is not in the model store"),
    CheckpointError("/ckpt/best.safetensors", "sha256 mismatch"),
], ids=lambda e: type(e).__name__)
def test_cli_shows_a_sonorize_error_as_one_line_with_exit_2(monkeypatch, error):
    import flows.sonorize_flow
    from flows.cli import app

    def fail(**_):
        raise error

    monkeypatch.setattr(flows.sonorize_flow, "sonorize", fail)
    result = CliRunner().invoke(app, ["run", "/videos/a.mp4", "--no-prefect"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [f"error: {error}"], result.output
    assert "Traceback" not in result.output


def test_cli_keeps_the_traceback_of_a_programming_error(monkeypatch):
    import flows.sonorize_flow
    from flows.cli import app

    def bug(**_):
        return {}["n_videos"]

    monkeypatch.setattr(flows.sonorize_flow, "sonorize", bug)
    result = CliRunner().invoke(app, ["run", "/videos/a.mp4", "--no-prefect"])
    assert result.exit_code == 1
    assert isinstance(result.exception, KeyError)  # not turned into an "error: ..." line
    assert "error:" not in result.output
    assert result.exc_info[2] is not None and result.exc_info[2].tb_next is not None
