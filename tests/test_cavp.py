"""CAVP's video encoder: Diff-Foley's published layout loads strictly; per-frame embeddings at 4 fps.

Expected keys are written out from the published architecture (mmaction2's
SlowOnly ResNet3d-50 as Diff-Foley configures it: ``conv1.conv`` / ``.bn``,
``layerX.Y.convZ``, ``layerX.0.downsample``, then ``video_project_head``),
independently of our module, with ``module.`` prefixes as in the Lightning
checkpoint and its audio side present (dropped on load).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from folai_models.synth.cavp import CAVPVideoEncoder, cavp_state_dict, embed_frames  # noqa: E402


def _conv_bn(keys: dict, name: str, out_ch: int, in_ch: int, kernel: tuple[int, int, int]):
    keys[f"{name}.conv.weight"] = (out_ch, in_ch, *kernel)
    for p in ("weight", "bias", "running_mean", "running_var"):
        keys[f"{name}.bn.{p}"] = (out_ch,)
    keys[f"{name}.bn.num_batches_tracked"] = ()


def published_cavp_video_layout() -> dict[str, tuple[int, ...]]:
    keys: dict = {}
    _conv_bn(keys, "video_encoder.conv1", 64, 3, (1, 7, 7))
    inplanes = 64
    for stage, (blocks, inflate) in enumerate(zip((3, 4, 6, 3), (0, 0, 1, 1))):
        planes = 64 * 2 ** stage
        for b in range(blocks):
            p = f"video_encoder.layer{stage + 1}.{b}"
            block_in = inplanes if b == 0 else planes * 4
            _conv_bn(keys, f"{p}.conv1", planes, block_in, (3, 1, 1) if inflate else (1, 1, 1))
            _conv_bn(keys, f"{p}.conv2", planes, planes, (1, 3, 3))
            _conv_bn(keys, f"{p}.conv3", planes * 4, planes, (1, 1, 1))
            if b == 0:
                _conv_bn(keys, f"{p}.downsample", planes * 4, inplanes, (1, 1, 1))
        inplanes = planes * 4
    keys["video_project_head.weight"] = (512, 2048)
    keys["video_project_head.bias"] = (512,)
    return keys


def test_full_size_encoder_has_the_published_layout_and_loads_strictly():
    expected = published_cavp_video_layout()
    with torch.device("meta"):
        encoder = CAVPVideoEncoder()
    actual = {k: tuple(v.shape) for k, v in encoder.state_dict().items()}
    assert sorted(set(expected) ^ set(actual)) == []
    assert {k: v for k, v in actual.items() if expected[k] != v} == {}
    checkpoint = {f"module.{k}": torch.empty(s, device="meta") for k, s in expected.items()}
    checkpoint["module.spec_encoder.conv_block1.conv1.weight"] = torch.empty(64, 1, 3, 3, device="meta")
    checkpoint["module.logit_scale"] = torch.empty((), device="meta")
    result = encoder.load_state_dict(cavp_state_dict(checkpoint), strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_one_normalised_embedding_per_frame():
    torch.manual_seed(0)
    encoder = CAVPVideoEncoder(stage_blocks=(1, 1, 1, 1), base_channels=8).eval()
    frames = np.random.default_rng(0).integers(0, 255, (10, 48, 64, 3), dtype=np.uint8)
    embeddings = embed_frames(encoder, frames, clip_frames=4)
    assert embeddings.shape == (10, 512)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(10))
    # temporal kernels: a frame's embedding depends on its neighbours within a clip
    changed = frames.copy()
    changed[1] = 0
    after = embed_frames(encoder, changed, clip_frames=4)
    assert not torch.allclose(after[0], embeddings[0]) and torch.allclose(after[5], embeddings[5])


def test_cavp_from_the_model_store_and_missing_weights(tmp_path):
    from data_catalog.model_store import REGISTRY, ModelStore
    from tasks.engines.weights import FolAIWeightsMissing, load_cavp

    spec = REGISTRY["cavp"]
    registry = {"cavp": dataclasses.replace(spec, files=tuple(dataclasses.replace(f, size=None, sha256=None)
                                                              for f in spec.files))}
    store = ModelStore(tmp_path / "models", registry=registry)
    with pytest.raises(FolAIWeightsMissing, match="sonorize models pull cavp"):
        load_cavp(store)
    torch.manual_seed(1)
    weights = CAVPVideoEncoder().state_dict()
    source = tmp_path / "cavp_epoch66.ckpt"
    torch.save({"epoch": 66, "state_dict": {f"module.{k}": v for k, v in weights.items()}}, source)
    store.add_file("cavp", source)
    encoder = load_cavp(store)
    torch.testing.assert_close(encoder.video_project_head.weight, weights["video_project_head.weight"])


def test_cavp_slices_follow_the_synthesis_windows():
    from folai_models.windowed_render import cut_frames
    from tasks.engines.folai import cavp_windows

    rate, seconds = 125.0, 25.0
    envelope = np.full(int(rate * seconds), 0.2, np.float32)
    frames = torch.arange(int(seconds * 4), dtype=torch.float32)[:, None].repeat(1, 512)  # frame index as value
    window = cavp_windows(frames, envelope, rate, 10.0)
    cuts = cut_frames(envelope, rate, window_s=10.0)
    first = window(0, cuts[0] + 13)  # the first window runs to its cut plus the crossfade
    assert first.shape[1] == 512 and first[0, 0] == 0 and len(first) == round((cuts[0] + 13) / rate * 4)
    second = window(1, 1000)
    assert second[0, 0] == round((cuts[0] - 13) / rate * 4)  # starts at the window's first envelope frame
    last = window(2, 2000)  # past the video's end: the last frame is held
    assert last[-1, 0] == frames[-1, 0]
