"""The video stage on both cores gives the sequential path's results, bit for bit (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest

from data_catalog.errors import MediaError
from data_catalog.media import iter_frame_windows, probe_video
from data_catalog.media.frames import prefetched
from folai_models.encoders.motion import MotionEncoder
from folai_models.features import extract_features
from folai_models.optical_flow.opencv_flow import OpenCVFlow
from media_factory import pattern_clip


def test_flow_threads_change_nothing():
    rng = np.random.default_rng(3)
    first = rng.integers(0, 256, (7, 64, 80, 3), dtype=np.uint8)
    second = np.roll(first, (2, 3), axis=(1, 2))
    sequential = OpenCVFlow(workers=1).flow(first, second)
    threaded = OpenCVFlow(workers=3)
    assert np.array_equal(threaded.flow(first, second), sequential)
    assert np.array_equal(threaded.flow(first[:1], second[:1]), sequential[:1])  # fewer pairs than threads
    assert np.abs(sequential[:, 0, 16:-16, 16:-16].mean() - 3.0) < 0.5  # it is the flow: 3 px right


def test_prefetched_keeps_items_errors_and_closes_early():
    def source(n, fail_at=None):
        for i in range(n):
            if i == fail_at:
                raise MediaError("clip.mp4", "truncated")
            yield np.full(2, i)

    assert [int(a[0]) for a in prefetched(source(5))] == [0, 1, 2, 3, 4]
    got = []
    with pytest.raises(MediaError, match="truncated"):
        for item in prefetched(source(5, fail_at=3), depth=2):
            got.append(int(item[0]))
    assert got == [0, 1, 2]  # what came before the error, then the error itself

    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield np.full(1, i)
                i += 1
        finally:
            closed.append(True)

    for item in prefetched(endless()):
        if item[0] == 2:
            break
    assert closed == [True]


@pytest.mark.needs_ffmpeg
def test_features_with_prefetch_and_flow_threads_equal_sequential(tmp_path):
    info = probe_video(pattern_clip(tmp_path / "clip.mp4", seconds=1.0, size="96x64"))

    def windows(window_frames):
        return iter_frame_windows(info, window_frames=window_frames, size=(224, 224), pixel_format="rgb24")

    sequential = extract_features(list(windows(30)), MotionEncoder(), OpenCVFlow(workers=1))
    parallel = extract_features(prefetched(windows(7)), MotionEncoder(), OpenCVFlow(workers=2))
    chunked = extract_features(prefetched(windows(13)), MotionEncoder(), OpenCVFlow(workers=2), chunk_frames=4)
    assert sequential.shape == (30, MotionEncoder.feature_dim)
    assert np.array_equal(parallel, sequential) and np.array_equal(chunked, sequential)
