"""TC-CLIP frame encoder (folai_models.encoders.tc_clip): tiny random weights, official checkpoint layout."""

import numpy as np
import pytest
import torch

from folai_models.encoders import ENCODERS, create_encoder_from_config
from folai_models.encoders.tc_clip import TCCLIPEncoder, clip_slots, merge_steps

# Tiny model: 64 x 64 images, 16 patches, 4 seeds per frame, clips of 4 frames -> 16 seeds merged to 6.
TINY = dict(width=32, layers=2, heads=2, patch_size=16, image_size=64, output_dim=16,
            context_tokens=6, tome_r=4, clip_frames=4)


def _window(n, size=64, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    flow = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return frames, flow


def _tiny(**options):
    return create_encoder_from_config({"name": "tc_clip", "options": TINY | options})


# --- (a) tiny random-weight model -----------------------------------------------------------------


def test_registered_with_folai_interface():
    assert ENCODERS["tc_clip"] is TCCLIPEncoder
    assert TCCLIPEncoder.uses_flow and TCCLIPEncoder.feature_dim == 1024
    assert TCCLIPEncoder.input_size == (224, 224) and TCCLIPEncoder.weights_name == "tc-clip"
    tiny = _tiny()
    assert tiny.feature_dim == 32 and tiny.input_size == (64, 64) and tiny.weights_name is None
    assert tiny.revision() == "random"


@pytest.mark.parametrize("grouping", ["strided", "consecutive"])
def test_tiny_encodes_window_deterministically(grouping):
    frames, flow = _window(10)
    first = _tiny(grouping=grouping).encode(frames, flow)
    assert first.shape == (10, 32) and first.dtype == np.float32
    assert np.isfinite(first).all()
    encoder = _tiny(grouping=grouping)  # same seed -> same random weights
    np.testing.assert_array_equal(encoder.encode(frames, flow), first)
    np.testing.assert_array_equal(encoder.encode(frames, flow), first)
    assert not np.array_equal(_tiny(grouping=grouping, seed=1).encode(frames, flow), first)


def test_rgb_and_flow_halves_share_weights():
    frames, flow = _window(8)
    encoder = _tiny()
    both = encoder.encode(frames, flow)
    same = encoder.encode(frames, frames)
    np.testing.assert_array_equal(same[:, :16], same[:, 16:])  # one tower for both streams
    np.testing.assert_array_equal(same[:, :16], both[:, :16])  # RGB half ignores the flow images
    assert not np.allclose(both[:, :16], both[:, 16:])


@pytest.mark.parametrize("grouping, clip_mates", [("strided", [0, 3, 6, 9]), ("consecutive", [0, 1, 2, 3])])
def test_context_tokens_mix_frames_of_one_clip_only(grouping, clip_mates):
    frames, flow = _window(10)
    encoder = _tiny(grouping=grouping)
    before = encoder.encode(frames, flow)
    frames = frames.copy()
    frames[0] = 255 - frames[0]
    after = encoder.encode(frames, flow)
    changed = np.flatnonzero(np.abs(after[:, :16] - before[:, :16]).max(axis=1) > 0)
    assert changed.tolist() == clip_mates  # the edited frame and, through the context tokens, its clip
    np.testing.assert_array_equal(after[:, 16:], before[:, 16:])


def test_clip_slots_cover_every_frame_once():
    members, clip, position = clip_slots(10, 4, "strided")
    assert members.tolist() == [[0, 3, 6, 9], [1, 4, 7, 9], [2, 5, 8, 9]]  # last frame repeated as padding
    assert (members[clip, position] == np.arange(10)).all()
    members, clip, position = clip_slots(10, 4, "consecutive")
    assert members.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 9, 9]]
    assert (members[clip, position] == np.arange(10)).all()
    members, clip, position = clip_slots(300, 16, "strided")  # FolAI window: 19 clips, 19 frames apart
    assert members.shape == (19, 16) and (members[clip, position] == np.arange(300)).all()
    assert clip_slots(3, 16, "strided")[0].tolist() == [[0, 1, 2]]  # a short window is one shorter clip


def test_merge_steps_reach_context_tokens():
    seeds = int(196 * 0.3)  # 58 seed tokens per frame
    assert merge_steps(8 * seeds, 96, 100) == [100, 100, 100, 68]
    assert sum(merge_steps(16 * seeds, 96, 100)) == 16 * seeds - 96
    assert merge_steps(20, 96, 100) == []


def test_bad_inputs_are_rejected():
    frames, flow = _window(4)
    encoder = _tiny()
    with pytest.raises(ValueError, match="flow_images"):
        encoder.encode(frames)
    with pytest.raises(ValueError, match="uint8"):
        encoder.encode(frames[:, :32], flow[:, :32])
    with pytest.raises(ValueError, match="flow images"):
        encoder.encode(frames, flow[:3])
    assert encoder.encode(frames[:0], flow[:0]).shape == (0, 32)
    with pytest.raises(ValueError, match="GPU"):
        _tiny(dtype="float16")
    with pytest.raises(ValueError, match="grouping"):
        _tiny(grouping="random")


# --- (b) full-size ViT-B/16 and the released checkpoint layout -------------------------------------

# Written from naver-ai/tc-clip (not from our module): clip/vision_transformer_tc.py TCVisionTransformer,
# clip/transformer_blocks_tc.py TCAttentionBlock/TCAttention, configs/trainer/tc_clip.yaml
# (positional_embedding_type: space, local_global_bias: true), CLIP ViT-B/16 sizes.
WIDTH, LAYERS, HEADS, PATCH, GRID, EMBED = 768, 12, 12, 16, 224 // 16, 512


def official_vision_shapes():
    """Key -> shape of ``image_encoder.*`` in a released TC-CLIP ViT-B/16 checkpoint."""
    shapes = {
        "conv1.weight": (WIDTH, 3, PATCH, PATCH),  # bias=False
        "class_embedding": (WIDTH,),
        "positional_embedding": (GRID * GRID + 1, WIDTH),  # 'space': shared by all frames
        "ln_pre.weight": (WIDTH,),
        "ln_pre.bias": (WIDTH,),
    }
    for i in range(LAYERS):
        block = f"transformer.resblocks.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):  # CLIP's in_proj split in three
            shapes[f"{block}attn.{name}.weight"] = (WIDTH, WIDTH)
            shapes[f"{block}attn.{name}.bias"] = (WIDTH,)
        if i > 0:  # TCAttention: no bias table in the first layer
            shapes[f"{block}attn.local_global_bias_table"] = (HEADS, 1, 2)
        for norm in ("ln_1", "ln_2"):
            shapes[f"{block}{norm}.weight"] = (WIDTH,)
            shapes[f"{block}{norm}.bias"] = (WIDTH,)
        shapes[f"{block}mlp.c_fc.weight"] = (4 * WIDTH, WIDTH)
        shapes[f"{block}mlp.c_fc.bias"] = (4 * WIDTH,)
        shapes[f"{block}mlp.c_proj.weight"] = (WIDTH, 4 * WIDTH)
        shapes[f"{block}mlp.c_proj.bias"] = (WIDTH,)
    shapes |= {"ln_post.weight": (WIDTH,), "ln_post.bias": (WIDTH,), "proj": (WIDTH, EMBED)}
    return shapes


# A few of the text side's keys (trainers/tc_clip.py TCCLIP, VPPromptLearner, VPTextEncoder).
TEXT_SHAPES = {
    "prompt_learner.ctx": (4, 512),
    "prompt_learner.token_prefix": (400, 1, 512),
    "text_encoder.positional_embedding": (77, 512),
    "text_encoder.transformer.resblocks.0.attn.in_proj_weight": (3 * 512, 512),
    "text_encoder.transformer.resblocks.0.ln_1.weight": (512,),
    "text_encoder.prompt_generation_layer.0.ln_1_kv.weight": (512,),
    "text_encoder.ln_final.weight": (512,),
    "text_encoder.text_projection": (512, 512),
    "logit_scale": (),
}


@pytest.fixture(scope="module")
def official_checkpoint():
    """What torch.load gives for a released .pth (utils/tools.py epoch_saving of a DDP-wrapped TCCLIP)."""
    model = {f"module.image_encoder.{key}": torch.zeros(shape) for key, shape in official_vision_shapes().items()}
    model |= {f"module.{key}": torch.zeros(shape) for key, shape in TEXT_SHAPES.items()}
    model["module.image_encoder.proj"] = torch.arange(WIDTH * EMBED, dtype=torch.float32).reshape(WIDTH, EMBED)
    model["module.image_encoder.transformer.resblocks.11.attn.local_global_bias_table"] = torch.full((HEADS, 1, 2), 0.5)
    return {"model": model, "optimizer": {}, "lr_scheduler": {}, "max_accuracy": 0.0, "epoch": 9, "config": {}}


@pytest.fixture(scope="module")
def full_encoder():
    return TCCLIPEncoder()


def test_full_size_matches_official_names_and_shapes(full_encoder):
    ours = {key: tuple(value.shape) for key, value in full_encoder.model.state_dict().items()}
    assert ours == official_vision_shapes()
    assert 86_000_000 < sum(np.prod(shape) for shape in ours.values()) < 86_500_000


def test_full_size_loads_released_layout_strictly(full_encoder, official_checkpoint):
    full_encoder.load_state_dict(official_checkpoint)
    model = full_encoder.model
    assert torch.equal(model.proj, official_checkpoint["model"]["module.image_encoder.proj"])
    assert model.transformer.resblocks[11].attn.local_global_bias_table.eq(0.5).all()
    assert model.transformer.resblocks[0].attn.local_global_bias_table is None
    revision = full_encoder.revision()
    assert revision != "random" and len(revision) == 16
    bare = {key.removeprefix("module."): value for key, value in official_checkpoint["model"].items()}
    full_encoder.load_state_dict(bare)  # the "model" dict without DDP's prefix works too
    assert full_encoder.revision() == revision


# --- (c) checkpoints that do not fit --------------------------------------------------------------


def _variant(checkpoint, drop=(), **replace):
    model = {key: value for key, value in checkpoint["model"].items() if key not in drop}
    model |= {f"module.image_encoder.{key}": value for key, value in replace.items()}
    return {"model": model}


def test_wrong_shape_is_a_clear_error(full_encoder, official_checkpoint):
    with pytest.raises(ValueError, match=r"shape mismatches: proj: checkpoint \(768, 256\) vs model \(768, 512\)"):
        full_encoder.load_state_dict(_variant(official_checkpoint, proj=torch.zeros(768, 256)))


def test_missing_and_unexpected_keys_are_clear_errors(full_encoder, official_checkpoint):
    key = "module.image_encoder.transformer.resblocks.5.attn.local_global_bias_table"
    with pytest.raises(ValueError, match=r"missing keys: transformer\.resblocks\.5\.attn\.local_global_bias_table"):
        full_encoder.load_state_dict(_variant(official_checkpoint, drop=[key]))
    extra = {"transformer.resblocks.0.attn.local_global_bias_table": torch.zeros(HEADS, 1, 2)}
    with pytest.raises(ValueError, match=r"unexpected keys: transformer\.resblocks\.0\.attn\.local_global_bias"):
        full_encoder.load_state_dict(_variant(official_checkpoint, **extra))


def test_foreign_checkpoints_are_rejected(full_encoder):
    with pytest.raises(ValueError, match="no TC-CLIP vision keys"):
        full_encoder.load_state_dict({"model": {"module.text_encoder.ln_final.weight": torch.zeros(512)}})
    clip_like = {"visual.conv1.weight": torch.zeros(WIDTH, 3, PATCH, PATCH),
                 "visual.transformer.resblocks.0.attn.in_proj_weight": torch.zeros(3 * WIDTH, WIDTH)}
    with pytest.raises(ValueError, match="OpenAI CLIP"):
        full_encoder.load_state_dict({key.removeprefix("visual."): value for key, value in clip_like.items()})
