"""Mirrored motion features: computed from the features equal the features of the mirrored video."""

import numpy as np
import pytest

from folai_models.encoders import ENCODERS
from folai_models.encoders.motion import FEATURE_NAMES, MotionEncoder, mirror_motion_features
from folai_models.optical_flow.flow_images import FLOW_IMAGE_MAX


BLOCK = 4  # the encoder samples every 2nd pixel (every 4th for the camera median): blocks keep a mirror exact


def _video(seed: int, n: int = 6, size: int = 224):
    """Random frames and flow images, constant over BLOCK x BLOCK pixels, with exactly negatable flow levels."""
    rng = np.random.default_rng(seed)
    coarse = size // BLOCK
    frames = rng.integers(0, 256, size=(n, coarse, coarse, 3), dtype=np.uint8)
    flow = np.full((n, coarse, coarse, 3), 127, dtype=np.uint8)  # level 127 is zero flow
    flow[..., :2] = 127 + rng.integers(-2, 3, size=(1, 1, 1, 2))  # a little camera drift
    for _ in range(5):  # moving blobs
        r, c = rng.integers(0, coarse - 10, size=2)
        flow[:, r : r + 10, c : c + 10, :2] = rng.integers(60, 195, size=(n, 1, 1, 2))
    blocks = lambda a: a.repeat(BLOCK, axis=1).repeat(BLOCK, axis=2)  # noqa: E731
    return blocks(frames), blocks(flow)


def _mirror_video(frames, flow):
    mirrored_flow = flow[:, :, ::-1].copy()
    mirrored_flow[..., 0] = (FLOW_IMAGE_MAX - 1) - mirrored_flow[..., 0]  # x flow changes sign
    return frames[:, :, ::-1].copy(), mirrored_flow


@pytest.mark.parametrize("seed", [0, 1])
def test_mirrored_features_match_the_mirrored_video(seed):
    frames, flow = _video(seed)
    features = MotionEncoder().encode(frames, flow)
    from_mirrored_video = MotionEncoder().encode(*_mirror_video(frames, flow))
    np.testing.assert_allclose(mirror_motion_features(features), from_mirrored_video, rtol=1e-4, atol=1e-4)
    assert not np.allclose(features, from_mirrored_video, atol=1e-3)  # the mirror does change the features


def test_mirror_is_an_involution_and_checks_its_input():
    features = np.random.default_rng(3).normal(size=(10, len(FEATURE_NAMES))).astype(np.float32)
    np.testing.assert_array_equal(mirror_motion_features(mirror_motion_features(features)), features)
    with pytest.raises(ValueError, match="motion features must be"):
        mirror_motion_features(features[:, :-1])


def test_only_hand_made_encoders_are_mirrorable():
    assert ENCODERS["motion"].mirrorable
    for name, encoder in ENCODERS.items():
        if not encoder.mirrorable:
            with pytest.raises(ValueError, match="cannot be mirrored"):
                encoder.mirror_features(np.zeros((2, 4), np.float32))
