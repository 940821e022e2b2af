"""Frame encoders: BN-Inception (layout of the official ImageNet checkpoint) and the weight-free motion encoder."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from folai_models.encoders import ENCODERS, create_encoder_from_config
from folai_models.encoders.bn_inception import (
    BNInception,
    BNInceptionEncoder,
    cross_modality_flow_net,
    preprocess_flow,
    preprocess_rgb,
)
from folai_models.encoders.motion import COL, FEATURE_NAMES, MotionEncoder
from folai_models.optical_flow.flow_images import flow_to_image

TINY = 1 / 16  # width multiplier of the test networks: 64 features per stream

# The convolutions of bn_inception-9f5701afb96c8044.pth as TSN's tf_model_zoo/bninception/bn_inception.yaml
# defines them (num_output, kernel; input channels from the concatenations): name, in, out, kernel.
OFFICIAL_CONVS = """
conv1_7x7_s2 3 64 7
conv2_3x3_reduce 64 64 1
conv2_3x3 64 192 3
inception_3a_1x1 192 64 1
inception_3a_3x3_reduce 192 64 1
inception_3a_3x3 64 64 3
inception_3a_double_3x3_reduce 192 64 1
inception_3a_double_3x3_1 64 96 3
inception_3a_double_3x3_2 96 96 3
inception_3a_pool_proj 192 32 1
inception_3b_1x1 256 64 1
inception_3b_3x3_reduce 256 64 1
inception_3b_3x3 64 96 3
inception_3b_double_3x3_reduce 256 64 1
inception_3b_double_3x3_1 64 96 3
inception_3b_double_3x3_2 96 96 3
inception_3b_pool_proj 256 64 1
inception_3c_3x3_reduce 320 128 1
inception_3c_3x3 128 160 3
inception_3c_double_3x3_reduce 320 64 1
inception_3c_double_3x3_1 64 96 3
inception_3c_double_3x3_2 96 96 3
inception_4a_1x1 576 224 1
inception_4a_3x3_reduce 576 64 1
inception_4a_3x3 64 96 3
inception_4a_double_3x3_reduce 576 96 1
inception_4a_double_3x3_1 96 128 3
inception_4a_double_3x3_2 128 128 3
inception_4a_pool_proj 576 128 1
inception_4b_1x1 576 192 1
inception_4b_3x3_reduce 576 96 1
inception_4b_3x3 96 128 3
inception_4b_double_3x3_reduce 576 96 1
inception_4b_double_3x3_1 96 128 3
inception_4b_double_3x3_2 128 128 3
inception_4b_pool_proj 576 128 1
inception_4c_1x1 576 160 1
inception_4c_3x3_reduce 576 128 1
inception_4c_3x3 128 160 3
inception_4c_double_3x3_reduce 576 128 1
inception_4c_double_3x3_1 128 160 3
inception_4c_double_3x3_2 160 160 3
inception_4c_pool_proj 576 128 1
inception_4d_1x1 608 96 1
inception_4d_3x3_reduce 608 128 1
inception_4d_3x3 128 192 3
inception_4d_double_3x3_reduce 608 160 1
inception_4d_double_3x3_1 160 192 3
inception_4d_double_3x3_2 192 192 3
inception_4d_pool_proj 608 128 1
inception_4e_3x3_reduce 608 128 1
inception_4e_3x3 128 192 3
inception_4e_double_3x3_reduce 608 192 1
inception_4e_double_3x3_1 192 256 3
inception_4e_double_3x3_2 256 256 3
inception_5a_1x1 1056 352 1
inception_5a_3x3_reduce 1056 192 1
inception_5a_3x3 192 320 3
inception_5a_double_3x3_reduce 1056 160 1
inception_5a_double_3x3_1 160 224 3
inception_5a_double_3x3_2 224 224 3
inception_5a_pool_proj 1056 128 1
inception_5b_1x1 1024 352 1
inception_5b_3x3_reduce 1024 192 1
inception_5b_3x3 192 320 3
inception_5b_double_3x3_reduce 1024 192 1
inception_5b_double_3x3_1 192 224 3
inception_5b_double_3x3_2 224 224 3
inception_5b_pool_proj 1024 128 1
"""


def official_shapes(bn_shape=lambda c: (1, c)) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the official file: conv weight + bias, BN as [1, C] (tsn-pytorch #74), fc 1000 x 1024."""
    shapes: dict[str, tuple[int, ...]] = {}
    for line in OFFICIAL_CONVS.strip().splitlines():
        name, cin, cout, k = line.split()
        cin, cout, k = int(cin), int(cout), int(k)
        shapes[f"{name}.weight"] = (cout, cin, k, k)
        shapes[f"{name}.bias"] = (cout,)
        for part in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}_bn.{part}"] = bn_shape(cout)
    shapes["fc.weight"] = (1000, 1024)
    shapes["fc.bias"] = (1000,)
    return shapes


def state_from_shapes(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * 0.02
    return state


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Small CPU forwards: threads only add start-up and contention cost (seconds on a busy 2-core box)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def official_state():
    return state_from_shapes(official_shapes())


@pytest.fixture(scope="module")
def full_encoder_loaded(official_state):
    encoder = BNInceptionEncoder()
    encoder.load_state_dict(official_state)
    return encoder, official_state


def random_images(n: int, seed: int = 0, size=(224, 224)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *size, 3), dtype=np.uint8)


# --- BN-Inception -----------------------------------------------------------------


def test_official_table_has_69_convolutions():
    assert len(OFFICIAL_CONVS.strip().splitlines()) == 69
    assert len(official_shapes()) == 69 * 6 + 2


def test_tiny_bn_inception_forward_on_cpu():
    encoder = BNInceptionEncoder(width_multiplier=TINY, batch_size=2)
    assert encoder.feature_dim == 2 * 64 and encoder.revision() == "random"
    frames, flows = random_images(3, 1), random_images(3, 2)
    out = encoder.encode(frames, flows)
    assert out.shape == (3, 128) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    one_by_one = np.concatenate([encoder.encode(frames[i : i + 1], flows[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(one_by_one, out, rtol=1e-4, atol=1e-5)
    # same seed -> same random network
    again = BNInceptionEncoder(width_multiplier=TINY, batch_size=2).encode(frames, flows)
    np.testing.assert_array_equal(again, out)


def test_official_checkpoint_layout_loads_strictly(full_encoder_loaded):
    encoder, state = full_encoder_loaded
    assert encoder.feature_dim == 2048
    assert re.fullmatch(r"[0-9a-f]{16}", encoder.revision())
    rgb, flow = encoder.rgb_net.state_dict(), encoder.flow_net.state_dict()
    torch.testing.assert_close(rgb["conv1_7x7_s2.weight"], state["conv1_7x7_s2.weight"])
    bn_var = "inception_5b_pool_proj_bn.running_var"
    torch.testing.assert_close(rgb[bn_var], state[bn_var][0])  # official [1, C] -> [C]
    torch.testing.assert_close(rgb["fc.weight"], state["fc.weight"])
    # flow network: TSN cross-modality init of conv1, everything else copied, no classifier
    conv1 = state["conv1_7x7_s2.weight"]
    assert flow["conv1_7x7_s2.weight"].shape == (64, 2, 7, 7)
    torch.testing.assert_close(flow["conv1_7x7_s2.weight"], conv1.mean(dim=1, keepdim=True).expand(-1, 2, -1, -1))
    torch.testing.assert_close(flow["inception_4d_3x3.weight"], state["inception_4d_3x3.weight"])
    assert not any(k.startswith("fc.") for k in flow)
    out = encoder.encode(random_images(1, 3), random_images(1, 4))
    assert out.shape == (1, 2048) and np.all(np.isfinite(out))


def test_cadene_layout_also_loads():
    """pretrained-models.pytorch re-export: BN tensors [C], classifier named last_linear."""
    shapes = official_shapes(bn_shape=lambda c: (c,))
    shapes["last_linear.weight"], shapes["last_linear.bias"] = shapes.pop("fc.weight"), shapes.pop("fc.bias")
    encoder = BNInceptionEncoder(width_multiplier=1.0)
    encoder.load_state_dict(state_from_shapes(shapes, seed=1))
    assert encoder.revision() != "random"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("inception_3b_3x3_bn.running_mean"), "missing keys.*inception_3b_3x3_bn.running_mean"),
        (
            lambda s: s.update({"inception_4a_1x1.weight": torch.zeros(200, 576, 1, 1)}),
            r"wrong shapes.*inception_4a_1x1.weight: got \[200, 576, 1, 1\], expected \[224, 576, 1, 1\]",
        ),
        (lambda s: s.update({"extra.weight": torch.zeros(1)}), "unexpected keys.*extra.weight"),
    ],
)
def test_bad_state_dict_is_rejected_clearly(full_encoder_loaded, change, message):
    encoder, good = full_encoder_loaded
    state, before = dict(good), encoder.revision()
    change(state)
    with pytest.raises(ValueError, match=message):
        encoder.load_state_dict(state)
    assert encoder.revision() == before  # the loaded weights stay


def test_tiny_network_rejects_full_size_weights(official_state):
    with pytest.raises(ValueError, match="wrong shapes"):
        BNInceptionEncoder(width_multiplier=TINY).load_state_dict(official_state)


def test_cross_modality_flow_net_matches_rgb_on_grey_input():
    """Averaged conv1: flow net on (a, a) == RGB net on (2a/3, 2a/3, 2a/3)."""
    torch.manual_seed(0)
    rgb = BNInception(3, TINY).eval()
    flow = cross_modality_flow_net(rgb).eval()
    a = torch.randn(2, 1, 96, 96) * 50  # any size works for the network itself
    with torch.inference_mode():
        from_flow = flow.features(a.expand(-1, 2, -1, -1))
        from_rgb = rgb.features(a.expand(-1, 3, -1, -1) * 2 / 3)
    torch.testing.assert_close(from_flow, from_rgb, rtol=1e-4, atol=1e-4)


def test_preprocessing_matches_tsn():
    frame = np.zeros((1, 2, 2, 3), np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 10, 20, 30  # R, G, B
    x = preprocess_rgb(frame)
    assert x.shape == (1, 3, 2, 2)
    assert x[0, :, 0, 0].tolist() == [30 - 104, 20 - 117, 10 - 128]  # BGR minus [104, 117, 128]
    flow = np.zeros((1, 2, 2, 3), np.uint8)
    flow[..., 0], flow[..., 1], flow[..., 2] = 200, 50, 99
    assert preprocess_flow(flow)[0, :, 1, 1].tolist() == [72, -78]  # x, y minus 128; 3rd channel unused


def test_bn_inception_input_checks():
    encoder = BNInceptionEncoder(width_multiplier=TINY)
    with pytest.raises(ValueError, match="needs flow images"):
        encoder.encode(random_images(1))
    with pytest.raises(ValueError, match="224"):
        encoder.encode(random_images(1, size=(112, 112)), random_images(1, size=(112, 112)))
    with pytest.raises(ValueError, match="2 frames but 1 flow"):
        encoder.encode(random_images(2), random_images(1))


def test_bn_inception_registry():
    encoder = create_encoder_from_config({"name": "bn_inception", "options": {"width_multiplier": TINY}})
    assert isinstance(encoder, BNInceptionEncoder) and "bn_inception" in ENCODERS
    assert encoder.uses_flow and encoder.input_size == (224, 224) and encoder.weights_name == "bn-inception"
    assert BNInceptionEncoder.feature_dim == 2048


# --- motion encoder ---------------------------------------------------------------


def uniform_flow_images(n: int, vx: float, vy: float, size=(224, 224)) -> np.ndarray:
    flow = np.zeros((n, 2, *size), np.float32)
    flow[:, 0], flow[:, 1] = vx, vy
    return flow_to_image(flow)


def moving_square_video(n: int, step: int, size: int = 224) -> np.ndarray:
    rng = np.random.default_rng(5)
    background = rng.integers(60, 120, (size, size, 3), dtype=np.uint8)
    texture = rng.integers(150, 255, (40, 40, 3), dtype=np.uint8)
    frames = np.repeat(background[None], n, axis=0)
    for t in range(n):
        x = 20 + t * step
        frames[t, 90:130, x : x + 40] = texture
    return frames


def test_motion_encoder_registry_and_shape():
    encoder = create_encoder_from_config({"name": "motion"})
    assert isinstance(encoder, MotionEncoder)
    assert encoder.uses_flow and encoder.weights_name is None and encoder.revision() == "motion-v2-224"
    assert not encoder.center_crop  # v2: the whole frame (a centre crop drops 43 % of a 16:9 frame's width)
    assert encoder.feature_dim == len(FEATURE_NAMES) == 73
    out = encoder.encode(random_images(5, 1), random_images(5, 2))
    assert out.shape == (5, 73) and out.dtype == np.float32 and np.all(np.isfinite(out))


def test_motion_encoder_is_deterministic_and_window_invariant():
    frames, flows = random_images(20, 3), random_images(20, 4)
    whole = MotionEncoder().encode(frames, flows)
    np.testing.assert_array_equal(MotionEncoder().encode(frames, flows), whole)
    encoder = MotionEncoder()
    parts = [encoder.encode(frames[a:b], flows[a:b]) for a, b in ((0, 7), (7, 8), (8, 20))]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    encoder.reset()  # a new video: the first frame has no previous frame again
    np.testing.assert_array_equal(encoder.encode(frames, flows), whole)


def test_static_scene_gives_zero_motion():
    frames = np.repeat(random_images(1, 6), 6, axis=0)
    out = MotionEncoder().encode(frames, uniform_flow_images(6, 0.0, 0.0))
    assert np.abs(out).max() < 1e-5


def test_larger_motion_larger_magnitude_features():
    frames = random_images(4, 7)
    slow = MotionEncoder().encode(frames, uniform_flow_images(4, 2.0, 0.0))
    fast = MotionEncoder().encode(frames, uniform_flow_images(4, 8.0, 0.0))
    for name in ("speed_mean", "speed_p50", "speed_p99", "camera_vx", "dir_right"):
        assert fast[1, COL[name]] > slow[1, COL[name]] > 1.5, name
    assert fast[1, COL["moving_fraction"]] == 1.0 and slow[1, COL["dir_left"]] == 0.0
    np.testing.assert_allclose(slow[1, COL["speed_mean"]], 2.0, atol=0.1)  # px/frame, up to one flow level


def test_impact_cue_when_downward_motion_stops():
    still, down = uniform_flow_images(3, 0.0, 0.0), uniform_flow_images(4, 0.0, 6.0)
    flows = np.concatenate([still, down, still])
    flows[3:7, :168] = flow_to_image(np.zeros((4, 2, 168, 224), np.float32))  # only the bottom cell row moves
    frames = random_images(10, 8)
    out = MotionEncoder().encode(frames, flows)
    stop = out[:, COL["cell_down_stop_max"]]
    assert stop.argmax() == 7 and stop[7] > 5.0 and np.all(np.delete(stop, 7) < 0.2)
    assert out[5, COL["dir_down"]] > 1.0 and out[5, COL["cell30_vy"]] > 5.0
    assert abs(out[5, COL["cell00_vy"]]) < 0.1 and abs(out[5, COL["camera_vy"]]) < 0.1
    assert out[3, COL["cell_accel_max"]] > 5.0


def test_repeated_frame_is_flagged():
    frames = random_images(4, 9)
    frames[2] = frames[1]
    out = MotionEncoder().encode(frames, uniform_flow_images(4, 0.0, 0.0))
    assert out[:, COL["new_frame"]].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert out[2, COL["diff_mean"]] == 0.0 and out[3, COL["diff_fraction"]] > 0.5


def test_motion_encoder_with_opencv_flow_through_the_pipeline():
    from folai_models.features import extract_features
    from folai_models.optical_flow.opencv_flow import OpenCVFlow

    def speed(step: int) -> float:
        video = moving_square_video(8, step)
        feats = extract_features([video[:3], video[3:]], MotionEncoder(), OpenCVFlow())
        return float(feats[1:, COL["speed_p99"]].mean())

    still = extract_features([np.repeat(moving_square_video(1, 0), 5, axis=0)], MotionEncoder(), OpenCVFlow())
    assert np.abs(still[:, COL["speed_mean"]]).max() < 0.05
    slow, fast = speed(2), speed(6)
    assert fast > slow > 0.5


def test_motion_encoder_input_checks():
    encoder = MotionEncoder()
    with pytest.raises(ValueError, match="needs flow images"):
        encoder.encode(random_images(1))
    with pytest.raises(ValueError, match="224x224"):
        encoder.encode(random_images(1, size=(64, 64)), random_images(1, size=(64, 64)))
    free = MotionEncoder(input_size=None)
    assert free.encode(random_images(2, size=(64, 96)), random_images(2, size=(64, 96))).shape == (2, 73)
