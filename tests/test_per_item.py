"""The one per-item failure loop of the batch flows (flows/per_item.py)."""

from __future__ import annotations

import logging

from data_catalog.errors import SonorizeInputError
from flows.per_item import failed_record, for_each_item, run_item


class Progress:
    """Records what the loop reports (a BatchProgress stand-in)."""

    def __init__(self):
        self.stages, self.finished = [], []

    def stage(self, name, text):
        self.stages.append((name, text))

    def done(self, name, status):
        self.finished.append((name, status))


def test_a_bug_in_one_item_is_recorded_with_its_traceback_and_the_others_finish(caplog):
    def work(path, note):
        note("working")
        if path.endswith("b.mp4"):
            return {"ratio": 1 / 0}  # a programming error, not a user's
        return {"video_path": path, "status": "ok"}

    progress = Progress()
    with caplog.at_level(logging.ERROR, logger="sonorize"):
        results = for_each_item(["/v/a.mp4", "/v/b.mp4", "/v/c.mp4"], work, failed_record("video_path"),
                                label=str, progress=progress, logger=logging.getLogger("sonorize"))
    assert [r["status"] for r in results] == ["ok", "failed", "ok"]
    assert results[1]["error"] == "/v/b.mp4: internal error ZeroDivisionError: division by zero"
    assert all(r["wall_s"] >= 0 for r in results)
    assert progress.finished == [("a.mp4", "ok"), ("b.mp4", "failed"), ("c.mp4", "ok")]
    assert ("b.mp4", "working") in progress.stages
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "unexpected error on /v/b.mp4" in logged and "Traceback" in logged and "1 / 0" in logged


def test_a_user_error_is_one_line_without_a_traceback(caplog):
    def work(path, note):
        raise SonorizeInputError(path, "no video stream")

    with caplog.at_level(logging.DEBUG, logger="sonorize"):
        results = for_each_item(["/v/a.mp4"], work, failed_record("path"), label=str, progress=Progress(),
                                logger=logging.getLogger("sonorize"))
    assert results == [{"path": "/v/a.mp4", "status": "failed", "error": "/v/a.mp4: no video stream",
                        "wall_s": results[0]["wall_s"]}]
    assert not caplog.records


def test_results_of_any_shape_and_a_kept_wall_time():
    def work(item, note):
        return ({"status": "ok", "wall_s": 99.0}, item * 2)

    results = for_each_item([1, 2], work, lambda item, reason: ({"status": "failed"}, None), label=str,
                            progress=Progress(), summary=lambda r: r[0], overwrite_wall_s=False,
                            logger=logging.getLogger("sonorize"))
    assert results == [({"status": "ok", "wall_s": 99.0}, 2), ({"status": "ok", "wall_s": 99.0}, 4)]


def test_run_item_returns_the_work_or_the_failure():
    assert run_item(3, lambda x: x + 1, lambda x, reason: reason, label="three") == 4
    reason = run_item(3, lambda x: [][x], lambda x, reason: reason, label="three",
                      logger=logging.getLogger("sonorize"))
    assert reason == "three: internal error IndexError: list index out of range"
