"""Official checkpoint compatibility: SAO 1.0's published state-dict layout loads strictly.

The expected keys and shapes are written out here from the published layout
(``model_config.json`` of stabilityai/stable-audio-open-1.0, and the key names
its ``model.safetensors`` uses, as the diffusers conversion script reads them:
``model.model.*``, ``pretransform.model.*``, ``conditioner.conditioners.*``),
independently of stable-audio-tools. The full-size model is then built with
stable-audio-tools' factories from that config on the meta device (no
memory, ~1.2 B parameters) and must have exactly those keys and shapes, and a
state dict with them must load strictly, into the base model and into the
FolAI model with its ControlNet.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("stable_audio_tools")

from folai_models.synth import sao  # noqa: E402
from folai_models.synth.model import FolAISynthConfig, FolAISynth, load_base_weights  # noqa: E402


def published_dit_layout(cfg: dict) -> dict[str, tuple[int, ...]]:
    """``model.model.*`` keys of a stable-audio-tools DiT checkpoint (continuous transformer, prepend global)."""
    d = cfg["config"]
    dim, io, depth = d["embed_dim"], d["io_channels"], d["depth"]
    cond, glob = d["cond_token_dim"], d["global_cond_dim"]
    cond_embed = dim if d.get("project_cond_tokens", True) else cond
    heads_dim = dim // d["num_heads"]
    inner = 4 * dim  # FeedForward mult 4, SwiGLU input projection doubles it
    keys = {
        "timestep_features.weight": (128, 1),  # FourierFeatures(1, 256)
        "to_timestep_embed.0.weight": (dim, 256), "to_timestep_embed.0.bias": (dim,),
        "to_timestep_embed.2.weight": (dim, dim), "to_timestep_embed.2.bias": (dim,),
        "to_cond_embed.0.weight": (cond_embed, cond), "to_cond_embed.2.weight": (cond_embed, cond_embed),
        "to_global_embed.0.weight": (dim, glob), "to_global_embed.2.weight": (dim, dim),
        "preprocess_conv.weight": (io, io, 1), "postprocess_conv.weight": (io, io, 1),
        "transformer.project_in.weight": (dim, io), "transformer.project_out.weight": (io, dim),
        "transformer.rotary_pos_emb.inv_freq": (max(heads_dim // 2, 32) // 2,),
    }
    for i in range(depth):
        p = f"transformer.layers.{i}."
        for norm in ("pre_norm", "cross_attend_norm", "ff_norm"):
            keys[p + norm + ".gamma"] = keys[p + norm + ".beta"] = (dim,)
        keys[p + "self_attn.to_qkv.weight"] = (3 * dim, dim)
        keys[p + "self_attn.to_out.weight"] = (dim, dim)
        keys[p + "cross_attn.to_q.weight"] = (dim, dim)
        keys[p + "cross_attn.to_kv.weight"] = (2 * cond_embed, cond_embed)
        keys[p + "cross_attn.to_out.weight"] = (dim, dim)
        keys[p + "ff.ff.0.proj.weight"] = (2 * inner, dim)
        keys[p + "ff.ff.0.proj.bias"] = (2 * inner,)
        keys[p + "ff.ff.2.weight"] = (dim, inner)
        keys[p + "ff.ff.2.bias"] = (dim,)
    return {"model.model." + k: v for k, v in keys.items()}


def _wn(keys: dict, name: str, out_ch: int, in_ch: int, kernel: int, bias: bool = True, transpose: bool = False):
    """A weight-normed (old torch.nn.utils.weight_norm, dim 0) convolution's keys."""
    if transpose:
        keys[name + ".weight_g"], keys[name + ".weight_v"] = (in_ch, 1, 1), (in_ch, out_ch, kernel)
    else:
        keys[name + ".weight_g"], keys[name + ".weight_v"] = (out_ch, 1, 1), (out_ch, in_ch, kernel)
    if bias:
        keys[name + ".bias"] = (out_ch,)


def _snake(keys: dict, name: str, ch: int):
    keys[name + ".alpha"] = keys[name + ".beta"] = (ch,)


def _residual_units(keys: dict, prefix: str, ch: int, first: int = 0):
    """Three ResidualUnits (dilations 1, 3, 9) at ``prefix.first`` .. ``prefix.first+2``."""
    for u in range(first, first + 3):
        p = f"{prefix}.{u}.layers"
        _snake(keys, p + ".0", ch)
        _wn(keys, p + ".1", ch, ch, 7)
        _snake(keys, p + ".2", ch)
        _wn(keys, p + ".3", ch, ch, 1)


def published_oobleck_layout(cfg: dict) -> dict[str, tuple[int, ...]]:
    """``pretransform.model.*`` keys of the Oobleck VAE (snake activations, weight-normed convolutions)."""
    keys: dict = {}
    enc, dec = cfg["encoder"]["config"], cfg["decoder"]["config"]
    ch, mults, strides = enc["channels"], [1, *enc["c_mults"]], enc["strides"]
    _wn(keys, "encoder.layers.0", mults[0] * ch, enc["in_channels"], 7)
    for i, stride in enumerate(strides, start=1):
        c_in, c_out = mults[i - 1] * ch, mults[i] * ch
        _residual_units(keys, f"encoder.layers.{i}.layers", c_in)
        _snake(keys, f"encoder.layers.{i}.layers.3", c_in)
        _wn(keys, f"encoder.layers.{i}.layers.4", c_out, c_in, 2 * stride)
    n = len(strides) + 1
    _snake(keys, f"encoder.layers.{n}", mults[-1] * ch)
    _wn(keys, f"encoder.layers.{n + 1}", enc["latent_dim"], mults[-1] * ch, 3)

    ch, mults, strides = dec["channels"], [1, *dec["c_mults"]], dec["strides"]
    _wn(keys, "decoder.layers.0", mults[-1] * ch, dec["latent_dim"], 7)
    for j, i in enumerate(range(len(strides), 0, -1), start=1):
        c_in, c_out = mults[i] * ch, mults[i - 1] * ch
        _snake(keys, f"decoder.layers.{j}.layers.0", c_in)
        _wn(keys, f"decoder.layers.{j}.layers.1", c_out, c_in, 2 * strides[i - 1], transpose=True)
        _residual_units(keys, f"decoder.layers.{j}.layers", c_out, first=2)
    n = len(strides) + 1
    _snake(keys, f"decoder.layers.{n}", mults[0] * ch)
    _wn(keys, f"decoder.layers.{n + 1}", dec["out_channels"], mults[0] * ch, 7, bias=False)
    return {"pretransform.model." + k: v for k, v in keys.items()}


def published_number_conditioner_layout(conditioning: dict) -> dict[str, tuple[int, ...]]:
    keys = {}
    dim = conditioning["cond_dim"]
    for c in conditioning["configs"]:
        if c["type"] == "number":  # NumberEmbedder: learned Fourier features (256) + Linear(257, cond_dim)
            p = f"conditioner.conditioners.{c['id']}.embedder.embedding."
            keys.update({p + "0.weights": (128,), p + "1.weight": (dim, 257), p + "1.bias": (dim,)})
    return keys


def published_sao_layout(config: dict) -> dict[str, tuple[int, ...]]:
    model = config["model"]
    return {**published_dit_layout(model["diffusion"]), **published_oobleck_layout(model["pretransform"]["config"]),
            **published_number_conditioner_layout(model["conditioning"])}


@pytest.fixture(scope="module")
def sao_config():
    return sao.load_config()


@pytest.fixture(scope="module")
def expected(sao_config):
    return published_sao_layout(sao_config)


def test_published_config_is_sao_1_0(sao_config):
    dit = sao_config["model"]["diffusion"]["config"]
    vae = sao_config["model"]["pretransform"]["config"]
    assert (dit["embed_dim"], dit["depth"], dit["num_heads"], dit["io_channels"]) == (1536, 24, 24, 64)
    assert vae["downsampling_ratio"] == 2048 and vae["latent_dim"] == 64
    assert sao_config["sample_rate"] == 44100 and sao_config["audio_channels"] == 2


def test_full_size_base_has_published_keys_and_loads_strictly(sao_config, expected):
    with torch.device("meta"):
        base = sao.create_base_model(sao_config)
    actual = {k: tuple(v.shape) for k, v in base.state_dict().items()}
    assert sorted(set(expected) - set(actual)) == [] and sorted(set(actual) - set(expected)) == []
    assert {k: v for k, v in actual.items() if expected[k] != v} == {}
    n_params = sum(p.numel() for p in base.parameters())
    assert 1.1e9 < n_params < 1.3e9, n_params  # SAO 1.0: ~1.2 B parameters (DiT + VAE)
    state = {k: torch.empty(shape, device="meta") for k, shape in expected.items()}
    result = base.load_state_dict(state, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_full_size_folai_model_loads_sao_strictly(sao_config, expected):
    with torch.device("meta"):
        model = FolAISynth(FolAISynthConfig(base=sao_config), sao.create_base_model(sao_config))
    state = {k: torch.empty(shape, device="meta") for k, shape in expected.items()}
    load_base_weights(model, state, assign=True)
    assert model.controlnet.n_blocks == 4  # int(0.2 * 24)
    trainable = model.trainable_state_dict()
    assert "controlnet.blocks.3.self_attn.to_qkv.weight" in trainable
    assert not any(k.startswith("controlnet.blocks.4.") for k in trainable)
    assert tuple(trainable["controlnet.control_in.weight"].shape) == (64, 64, 1)
    assert tuple(trainable["controlnet.zero_out.0.weight"].shape) == (1536, 1536)
    assert all(not p.requires_grad for p in model.base.parameters())
    assert all(p.requires_grad for p in model.trainable_parameters())


def published_t5_layout(config: dict) -> dict[str, tuple[int, ...]]:
    """Encoder keys of the published t5-base ``model.safetensors`` (T5 1.0: ReLU FF, bias-free, one bias table).

    The file holds the whole encoder-decoder; the token embedding is stored
    once, as ``shared.weight``. Written from the T5 architecture, independently
    of transformers.
    """
    dim, inner, heads, kv = config["d_model"], config["d_ff"], config["num_heads"], config["d_kv"]
    keys = {"shared.weight": (config["vocab_size"], dim), "encoder.final_layer_norm.weight": (dim,)}
    for i in range(config["num_layers"]):
        p = f"encoder.block.{i}.layer."
        for proj in ("q", "k", "v"):
            keys[f"{p}0.SelfAttention.{proj}.weight"] = (heads * kv, dim)
        keys[f"{p}0.SelfAttention.o.weight"] = (dim, heads * kv)
        if i == 0:  # relative position biases live in the first block only, shared by the rest
            keys[f"{p}0.SelfAttention.relative_attention_bias.weight"] = (config["relative_attention_num_buckets"], heads)
        keys[f"{p}0.layer_norm.weight"] = keys[f"{p}1.layer_norm.weight"] = (dim,)
        keys[f"{p}1.DenseReluDense.wi.weight"] = (inner, dim)
        keys[f"{p}1.DenseReluDense.wo.weight"] = (dim, inner)
    return keys


def test_full_size_sao_with_t5_prompt_conditioner_loads_published_files_strictly(sao_config, expected):
    """SAO 1.0 *with* its T5 conditioner: model.safetensors + t5-base's model.safetensors, strictly, no key left."""
    from folai_models.synth.audio_to_audio import create_sao_text_model, load_sao_text_weights, text_encoder_prefix
    from folai_models.synth.t5_conditioner import load_t5_config

    t5_config = load_t5_config()
    assert (t5_config["d_model"], t5_config["num_layers"], t5_config["num_heads"]) == (768, 12, 12)
    t5_expected = published_t5_layout(t5_config)
    with torch.device("meta"):
        model = create_sao_text_model(sao_config, t5_config, tokenizer=None)
    prefix = text_encoder_prefix()
    actual = {k: tuple(v.shape) for k, v in model.named_parameters(remove_duplicate=True)}
    actual.update({k: tuple(v.shape) for k, v in model.named_buffers()})
    want = {**expected, **{prefix + k: v for k, v in t5_expected.items()}}
    assert sorted(set(want) - set(actual)) == [] and sorted(set(actual) - set(want)) == []
    assert {k: v for k, v in actual.items() if want[k] != v} == {}
    n_text = sum(p.numel() for n, p in model.named_parameters() if n.startswith(prefix))
    assert 1.0e8 < n_text < 1.2e8, n_text  # t5-base's encoder: ~110 M parameters
    assert model.cross_attn_cond_ids == ["prompt", "seconds_start", "seconds_total"]

    sao_file = {k: torch.empty(s, device="meta") for k, s in expected.items()}
    t5_file = {k: torch.empty(s, device="meta") for k, s in t5_expected.items()}
    t5_file["decoder.block.0.layer.0.SelfAttention.q.weight"] = torch.empty(768, 768, device="meta")  # not used
    load_sao_text_weights(model, sao_file, t5_file, assign=True)
    encoder = model.conditioner.conditioners["prompt"].encoder
    assert encoder.encoder.embed_tokens.weight is encoder.shared.weight
    del sao_file["model.model.preprocess_conv.weight"]
    with pytest.raises(RuntimeError, match="preprocess_conv"):
        load_sao_text_weights(model, sao_file, t5_file, assign=True)
