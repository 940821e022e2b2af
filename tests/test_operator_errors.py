"""What an operator sees when a deployment is set up wrong: one line naming what and why, no traceback.

Fast checks without a Prefect server (tests/test_operations.py runs the same paths on a real one).
"""

from __future__ import annotations

import logging

import pytest

from data_catalog.errors import LocationError, MediaError
from flows.run_logging import FLOW_RUN_LOGGER, TASK_RUN_LOGGER, FlowInputErrors, TaskInputErrors, VideosFailed


def test_watcher_input_without_credentials_is_one_line(monkeypatch):
    pytest.importorskip("s3fs")
    import s3fs

    from flows.watcher_flow import _reachable

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached: signing fails first
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(LocationError) as caught:
        _reachable("s3://sonorize/incoming")
    assert str(caught.value).startswith("s3://sonorize/incoming: no credentials for the store: set AWS_ACCESS_KEY_ID")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_watcher_input_folder_that_does_not_exist(tmp_path):
    from flows.watcher_flow import _reachable

    with pytest.raises(LocationError, match=r"incoming: no such folder$"):
        _reachable(str(tmp_path / "incoming"))
    assert _reachable(str(tmp_path / "state"), must_exist=False).url == str(tmp_path / "state")


def test_gpu_deployment_needs_its_image():
    from flows.deploy_checks import require_gpu_image

    for unset in ("", "  ", "{{ $SONORIZE_GPU_IMAGE }}", None):
        with pytest.raises(ValueError, match=r"^SONORIZE_GPU_IMAGE is not set: .* deploy --name batch --name watcher"):
            require_gpu_image(unset)
    assert require_gpu_image("registry.example.com/sonorize-gpu:0.1.0") == {
        "image": "registry.example.com/sonorize-gpu:0.1.0"}


def test_a_given_setting_wins_without_asking_prefect():
    from flows.deployment_settings import WATCHER_VARIABLES, setting

    assert setting(" s3://media/in ", "input_url", WATCHER_VARIABLES, flow="watch-bucket", example="x") == "s3://media/in"


def _record(logger: str, message: str, exc: BaseException | None, level: int = logging.ERROR) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord(logger, level, __file__, 1, message, (), exc_info)


def test_task_failures_on_bad_input_are_left_to_the_flow_bugs_keep_their_traceback():
    bad = MediaError("/in/bad.mp4", "empty file (0 bytes)")
    quiet = TaskInputErrors()
    assert not quiet.filter(_record(TASK_RUN_LOGGER, f"Task run failed with exception: {bad!r}", bad))
    assert not quiet.filter(_record(TASK_RUN_LOGGER, "Finished in state Failed('Task run encountered an exception "
                                                     "MediaError: /in/bad.mp4: empty file (0 bytes)')", None))
    bug = KeyError("frame")
    assert quiet.filter(_record(TASK_RUN_LOGGER, f"Task run failed with exception: {bug!r}", bug))
    assert quiet.filter(_record(TASK_RUN_LOGGER, "Finished in state Failed('Task run encountered an exception "
                                                 "KeyError: frame')", None))


def test_flow_failures_on_bad_input_are_one_line():
    quiet = FlowInputErrors()
    missing = LocationError("s3://b/in", "no credentials for the store")
    line = _record(FLOW_RUN_LOGGER, f"Encountered exception during execution: {missing!r}", missing)
    assert quiet.filter(line) and line.exc_info is None  # the line stays, its traceback goes
    failed = VideosFailed("1 of 2 videos failed: bad.mp4", {})
    assert not quiet.filter(_record(FLOW_RUN_LOGGER, "Engine execution exited with unexpected exception", failed))
    bug = ZeroDivisionError("division by zero")
    kept = _record(FLOW_RUN_LOGGER, "Encountered exception during execution", bug)
    assert quiet.filter(kept) and kept.exc_info is not None


def test_failed_batch_state_says_how_many_and_keeps_the_record():
    from flows.sonorize_flow import batch_outcome, sonorize_batch

    videos = [{"video_path": f"/in/v{i}.mp4", "status": "failed" if i % 2 else "ok"} for i in range(14)]
    run = {"n_videos": 14, "n_failed": 7, "videos": videos}
    state = batch_outcome(run)
    assert state.is_failed()
    assert state.message == "7 of 14 videos failed: v1.mp4, v3.mp4, v5.mp4, v7.mp4, v9.mp4, ..."
    assert state.data.run is run
    assert batch_outcome({"n_videos": 1, "n_failed": 0, "videos": []}) == {"n_videos": 1, "n_failed": 0, "videos": []}
    assert sonorize_batch.name == "sonorize"  # deployments stay sonorize/batch, sonorize/batch-gpu
