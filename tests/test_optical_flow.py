"""Optical flow: OpenCV recovers known shifts, RAFT runs and loads strictly, flow images, windows."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from folai_models.optical_flow.flow_images import (
    FLOW_CLIP_PX,
    flow_to_image,
    image_to_flow,
    quantisation_step,
)
from folai_models.optical_flow.opencv_flow import DIS_PRESET, DIS_PRESETS, OpenCVFlow, options_from_revision
from folai_models.optical_flow.raft import RaftFlow, consecutive_flow
from folai_models.optical_flow.registry import create_flow_estimator_from_config

SHIFT_TOLERANCE_PX = 0.5
BORDER_PX = 16  # np.roll wraps around: judge the interior only


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture, uint8 [H, W, 3]."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 1.5)


def moving_video(n: int, height: int, width: int, step=(2, 1)) -> np.ndarray:
    """A texture translating by ``step`` = (dx, dy) pixels per frame, uint8 [n, H, W, 3]."""
    base = textured(height, width, seed=1)
    return np.stack([np.roll(base, (i * step[1], i * step[0]), axis=(0, 1)) for i in range(n)])


@pytest.fixture(scope="module")
def tiny_raft() -> RaftFlow:
    torch.manual_seed(0)
    return create_flow_estimator_from_config(
        {"name": "raft", "options": {"size": "small", "num_flow_updates": 2, "device": "cpu", "batch_size": 3}})


@pytest.mark.parametrize("method", ["dis", "farneback"])
@pytest.mark.parametrize(("dx", "dy"), [(3, -2), (-1, 4)])
def test_opencv_flow_recovers_a_shift(method, dx, dy):
    first = textured(96, 128)
    second = np.roll(first, (dy, dx), axis=(0, 1))
    flow = OpenCVFlow(method).flow(first[None], second[None])
    assert flow.shape == (1, 2, 96, 128) and flow.dtype == np.float32
    inner = flow[0, :, BORDER_PX:-BORDER_PX, BORDER_PX:-BORDER_PX]
    assert np.abs(inner[0] - dx).max() < SHIFT_TOLERANCE_PX
    assert np.abs(inner[1] - dy).max() < SHIFT_TOLERANCE_PX


def test_opencv_flow_rejects_bad_input():
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        OpenCVFlow().flow(frames.astype(np.float32), frames.astype(np.float32))
    with pytest.raises(ValueError, match="preset"):
        OpenCVFlow(preset="slow")
    assert OpenCVFlow().revision().endswith(f"dis-{DIS_PRESET}")


@pytest.mark.parametrize("options", [{"method": "dis", "preset": p} for p in DIS_PRESETS] + [{"method": "farneback"}])
def test_opencv_flow_revision_names_its_arguments(options):
    assert options_from_revision(OpenCVFlow(**options).revision()) == options


def test_options_from_another_revision_are_none():
    assert options_from_revision("raft-small-abc123") is None
    assert options_from_revision("opencv") is None  # motion v1 checkpoints: no preset recorded
    assert options_from_revision("opencv4.8.0-dis-slow") is None  # no such preset


@pytest.mark.parametrize(("height", "width"), [(61, 70), (130, 133)])  # below / above RAFT's 128 px minimum
def test_raft_runs_on_sizes_not_multiple_of_8(tiny_raft, height, width):
    first = np.stack([textured(height, width, seed=s) for s in range(4)])  # 4 pairs, batch 3: two batches
    second = np.roll(first, (1, 2), axis=(1, 2))
    flow = tiny_raft.flow(first, second)
    assert flow.shape == (4, 2, height, width) and flow.dtype == np.float32
    assert np.isfinite(flow).all()
    assert tiny_raft.revision() == "raft_small-u2-random"


def test_raft_preprocessing_matches_torchvision_transforms(tiny_raft):
    from torchvision.models.optical_flow import Raft_Large_Weights

    frames = np.stack([textured(16, 24, seed=s) for s in range(2)])
    ours = tiny_raft._prepare(frames)
    reference, _ = Raft_Large_Weights.C_T_SKHT_V2.transforms()(
        torch.from_numpy(frames).permute(0, 3, 1, 2), torch.from_numpy(frames).permute(0, 3, 1, 2)
    )
    torch.testing.assert_close(ours, reference)
    assert float(ours.min()) >= -1.0 and float(ours.max()) <= 1.0


def test_raft_large_state_dict_is_the_checkpoints_layout():
    """The C_T_SKHT_V2 file was saved from this module: same keys, shapes and parameter count."""
    from torchvision.models.optical_flow import Raft_Large_Weights, raft_large

    weights = Raft_Large_Weights.C_T_SKHT_V2
    reference = raft_large(weights=None, progress=False)
    assert sum(p.numel() for p in reference.parameters()) == weights.meta["num_params"]

    estimator = create_flow_estimator_from_config({"name": "raft", "options": {"size": "large", "num_flow_updates": 1}})
    checkpoint = {key: torch.randn_like(value.float()).to(value.dtype) for key, value in reference.state_dict().items()}
    estimator.load_state_dict(checkpoint)
    assert estimator.revision().startswith("raft_large-u1-") and "random" not in estimator.revision()
    loaded = estimator.network.state_dict()
    assert all(torch.equal(loaded[key], checkpoint[key]) for key in checkpoint)

    key = next(k for k, v in checkpoint.items() if v.ndim == 4)
    wrong_shape = dict(checkpoint, **{key: torch.zeros(1, 2, 3, 4)})
    with pytest.raises(ValueError, match=rf"wrong shapes: {key}: expected"):
        estimator.load_state_dict(wrong_shape)
    with pytest.raises(ValueError, match=r"unexpected keys: extra\.weight"):
        estimator.load_state_dict(dict(checkpoint, **{"extra.weight": torch.zeros(1)}))
    with pytest.raises(ValueError, match=rf"missing keys: {key}"):
        estimator.load_state_dict({k: v for k, v in checkpoint.items() if k != key})


def test_flow_to_image_clips_and_maps_like_video_foley():
    flow = np.array([[[-30.0, -20.0, 0.0, 20.0, 35.0]], [[10.0, -10.0, 5.0, 0.0, -0.01]]], np.float32)[None]
    images = flow_to_image(flow)
    assert images.shape == (1, 1, 5, 3) and images.dtype == np.uint8
    # (clip(f, -20, 20) + 20) * 255 / 40, truncated
    assert images[0, 0, :, 0].tolist() == [0, 0, 127, 255, 255]
    assert images[0, 0, :, 1].tolist() == [191, 63, 159, 127, 127]
    assert (images[..., 2] == 127).all()
    magnitude = flow_to_image(flow, third_channel="magnitude")[0, 0, :, 2]
    assert magnitude[0] == 255 and magnitude[2] == int(np.hypot(0, 5) * 255 / FLOW_CLIP_PX)


def test_flow_image_round_trip_within_one_step():
    rng = np.random.default_rng(3)
    flow = rng.uniform(-FLOW_CLIP_PX, FLOW_CLIP_PX, (3, 2, 9, 11)).astype(np.float32)
    back = image_to_flow(flow_to_image(flow))
    assert back.shape == flow.shape and back.dtype == np.float32
    step = quantisation_step()
    assert step == pytest.approx(40 / 255)
    assert np.abs(back - flow).max() <= step / 2 + 1e-5
    assert image_to_flow(flow_to_image(np.zeros((1, 2, 2, 2), np.float32))).max() == 0.0
    clipped = image_to_flow(flow_to_image(np.full((1, 2, 2, 2), 50.0, np.float32)))
    assert np.allclose(clipped, FLOW_CLIP_PX)


def test_consecutive_flow_windows_equal_whole_video():
    video = moving_video(7, 48, 64, step=(2, 1))
    estimator = OpenCVFlow()
    whole = consecutive_flow(estimator, video)
    assert whole.shape == (7, 2, 48, 64)
    assert not whole[0].any()  # no motion into the first frame
    inner = whole[1:, :, BORDER_PX:-BORDER_PX, BORDER_PX:-BORDER_PX]
    assert np.abs(inner[:, 0] - 2).max() < SHIFT_TOLERANCE_PX and np.abs(inner[:, 1] - 1).max() < SHIFT_TOLERANCE_PX
    windows, previous = [], None
    for start in (0, 3, 4):  # windows of 3, 1 and 3 frames
        stop = {0: 3, 3: 4, 4: 7}[start]
        windows.append(consecutive_flow(estimator, video[start:stop], previous))
        previous = video[stop - 1]
    np.testing.assert_array_equal(np.concatenate(windows), whole)


def test_consecutive_flow_windows_with_raft(tiny_raft):
    video = moving_video(5, 24, 40)
    whole = consecutive_flow(tiny_raft, video)
    first = consecutive_flow(tiny_raft, video[:2])
    rest = consecutive_flow(tiny_raft, video[2:], previous_frame=video[1])
    np.testing.assert_allclose(np.concatenate([first, rest]), whole, atol=1e-4)
    with pytest.raises(ValueError, match="previous_frame"):
        consecutive_flow(tiny_raft, video[2:], previous_frame=video[1, :10])


def test_flow_estimators_build_by_name_from_the_registry():
    from folai_models.optical_flow.registry import FLOW_ESTIMATORS, available_flow_estimators, flow_estimator_class

    assert available_flow_estimators() == ("opencv", "raft")
    assert flow_estimator_class("raft") is RaftFlow and FLOW_ESTIMATORS["opencv"] is OpenCVFlow
    opencv = create_flow_estimator_from_config("opencv")
    assert type(opencv) is OpenCVFlow and opencv.weights_name is None and not opencv.uses_device
    farneback = create_flow_estimator_from_config({"name": "opencv", "options": {"method": "farneback"}})
    assert farneback.revision().endswith("-farneback")
    assert RaftFlow.uses_device and flow_estimator_class("raft").name == "raft"
    with pytest.raises(ValueError, match=r"^unknown flow method 'flownet'; available: opencv, raft$"):
        create_flow_estimator_from_config("flownet")


def test_the_video_stage_picks_its_flow_from_the_registry(tmp_path):
    """RAFT's weights come from the model store under the name the estimator gives (never a download)."""
    from data_catalog.model_store import ModelStore, ModelStoreError
    from tasks.feature_tasks import build_flow

    store = ModelStore(tmp_path / "models")
    assert type(build_flow("opencv", "cpu", store)) is OpenCVFlow
    with pytest.raises(ModelStoreError, match="raft-large"):
        build_flow("raft", "cpu", store)
    with pytest.raises(ValueError, match="unknown flow method 'dis'"):
        build_flow("dis", "cpu", store)
