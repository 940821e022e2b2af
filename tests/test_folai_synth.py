"""FolAI's synthesis model at tiny sizes (same classes as the full model): forward, backward, zero-init,
guidance, sampling to the right length and channels, windows, and the control experiment (short)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("stable_audio_tools")

from folai_models.synth import sao  # noqa: E402
from folai_models.synth.controlnet import controlled_dit_forward, n_control_blocks  # noqa: E402
from folai_models.synth.model import (ControlNetWeights, FolAISynthConfig,  # noqa: E402
                                      create_folai_synth_from_config, load_base_weights)


@pytest.fixture(autouse=True)
def one_thread():
    # tiny models: one thread is many times faster than two on shared cores (measured: 0.08 s vs 5 s a step)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    config = FolAISynthConfig(base=sao.load_config("tiny_oobleck.json"), n_blocks=2, clap_dim=16, cavp_dim=12)
    model = create_folai_synth_from_config(config)
    # like a pretrained base: stable-audio-tools zero-initializes every branch output, fill them
    with torch.no_grad():
        for param in model.base.model.parameters():
            if not param.any():
                param.normal_(0.0, 0.02)
    load_base_weights(model, model.base.state_dict())  # the ControlNet copies the "pretrained" blocks
    return model


def _inputs(model, batch=2, n_samples=4096, with_semantic=True):
    torch.manual_seed(1)
    audio = torch.randn(batch, 2, n_samples) * 0.1
    latents = model.encode_audio(audio)
    control = model.encode_control(audio.abs())
    cond = model.conditioning(batch, seconds_start=0.0, seconds_total=n_samples / model.sample_rate,
                              clap=torch.randn(batch, 16) if with_semantic else None,
                              cavp=torch.randn(batch, 3, 12) if with_semantic else None)
    return latents, control, cond


def test_depth_factor_rule():
    assert n_control_blocks(24) == 4  # int(0.2 * 24): SAO 1.0's default
    assert n_control_blocks(24, n_blocks=5) == 5  # FolAI's text count
    with pytest.raises(ValueError):
        n_control_blocks(4, depth_factor=0.1)


def test_base_path_matches_stable_audio_tools_dit(tiny):
    """Without the ControlNet our forward is the DiT's own forward, bit for bit."""
    latents, _, cond = _inputs(tiny)
    t = torch.tensor([0.3, 0.8])
    cross = cond.cross_attention()
    with torch.no_grad():
        ours = controlled_dit_forward(tiny.dit, None, latents, t, cross_attn_cond=cross, global_embed=cond.global_embed)
        theirs = tiny.dit(latents, t, cross_attn_cond=cross, global_embed=cond.global_embed, cfg_scale=1.0)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_fresh_controlnet_output_equals_base_exactly(tiny):
    latents, control, cond = _inputs(tiny)
    t = torch.tensor([0.2, 0.9])
    with torch.no_grad():
        on = tiny(latents, t, cond, control)
        off = tiny(latents, t, cond, control, use_controlnet=False)
    assert torch.equal(on, off)


def test_residuals_at_block_outputs_also_start_from_the_base():
    torch.manual_seed(0)
    config = FolAISynthConfig(base=sao.load_config("tiny_oobleck.json"), n_blocks=2, clap_dim=16, cavp_dim=12,
                              residual_at="output")
    model = create_folai_synth_from_config(config)
    latents, control, cond = _inputs(model)
    t = torch.tensor([0.3, 0.7])
    with torch.no_grad():
        assert torch.equal(model(latents, t, cond, control), model(latents, t, cond, control, use_controlnet=False))
        model.controlnet.zero_out[0].bias.fill_(0.1)
        assert not torch.equal(model(latents, t, cond, control),
                               model(latents, t, cond, control, use_controlnet=False))
    with pytest.raises(ValueError, match="residual_at"):
        create_folai_synth_from_config(FolAISynthConfig(base=sao.load_config("tiny_oobleck.json"), residual_at="x"))


def test_forward_backward_only_trains_controlnet_and_projections(tiny):
    latents, control, cond = _inputs(tiny)
    # make the zero projections non-zero so gradients reach the copied blocks too
    with torch.no_grad():
        for layer in tiny.controlnet.zero_out:
            layer.weight.normal_(0, 0.01)
        tiny.controlnet.control_in.weight.normal_(0, 0.01)
    try:
        out = tiny(latents, torch.tensor([0.4, 0.6]), cond, control)
        assert out.shape == latents.shape
        out.square().mean().backward()
        assert all(p.grad is None for p in tiny.base.parameters())
        grads = {n: p.grad for n, p in ControlNetWeights(tiny).named_parameters()}
        assert grads["controlnet.blocks.1.self_attn.to_qkv.weight"].abs().sum() > 0
        assert grads["controlnet.blocks.0.ff.ff.2.weight"].abs().sum() > 0
        assert grads["controlnet.control_in.weight"].abs().sum() > 0
        assert grads["semantic.clap.weight"].abs().sum() > 0 and grads["semantic.cavp.weight"].abs().sum() > 0
        # control changes the output once the projections are trained away from zero
        with torch.no_grad():
            on = tiny(latents, torch.tensor([0.4, 0.6]), cond, control)
            off = tiny(latents, torch.tensor([0.4, 0.6]), cond, control, control_scale=0.0)
            scaled = tiny(latents, torch.tensor([0.4, 0.6]), cond, control, block_scales=[0.0, 0.0])
        assert not torch.equal(on, off) and torch.equal(off, scaled)
    finally:
        with torch.no_grad():
            for layer in tiny.controlnet.zero_out:
                layer.weight.zero_()
            tiny.controlnet.control_in.weight.zero_()
        tiny.zero_grad(set_to_none=True)


def test_gradient_checkpointing_gives_the_same_gradients(tiny):
    from folai_models.synth.train import diffusion_loss

    latents, control, cond = _inputs(tiny, with_semantic=False)
    grads = []
    for checkpointing in (False, True):
        tiny.zero_grad(set_to_none=True)
        loss = diffusion_loss(tiny, latents, cond, control, gradient_checkpointing=checkpointing,
                              generator=torch.Generator().manual_seed(3))
        loss.backward()
        grads.append(tiny.controlnet.zero_out[1].weight.grad.clone())
    tiny.zero_grad(set_to_none=True)
    torch.testing.assert_close(grads[0], grads[1])
    assert grads[0].abs().sum() > 0


def test_guidance_keeps_control_in_both_branches(tiny):
    latents, control, cond = _inputs(tiny)
    t = torch.tensor([0.5, 0.5])
    with torch.no_grad():
        for layer in tiny.controlnet.zero_out:
            layer.weight.normal_(0, 0.05)
        try:
            guided = tiny.guided(latents, t, cond, control, cfg_scale=2.0)
            conditional = tiny(latents, t, cond, control)
            unconditional = tiny(latents, t, cond, control, drop_semantic=True)
        finally:
            for layer in tiny.controlnet.zero_out:
                layer.weight.zero_()
    torch.testing.assert_close(guided, unconditional + 2.0 * (conditional - unconditional), rtol=1e-4, atol=1e-5)
    # null semantic inputs: nothing to guide, a single branch
    latents, control, null = _inputs(tiny, with_semantic=False)
    with torch.no_grad():
        assert torch.equal(tiny.guided(latents, t, null, control, cfg_scale=2.0), tiny(latents, t, null, control))


def test_generate_right_length_and_channels(tiny):
    from folai_models.synth.sampling import generate

    rate = 125.0
    envelope = np.abs(np.sin(np.linspace(0, 6, 60))).astype(np.float32)  # 0.48 s
    n = int(round(len(envelope) / rate * tiny.sample_rate))
    audio = generate(tiny, envelope, rate, n, clap=torch.randn(16), steps=3, sampler_type="dpmpp-2m")
    assert audio.shape == (2, n) and np.isfinite(audio).all()
    batch = generate(tiny, envelope, rate, n, steps=2, batch_size=2, sampler_type="v-ddim")
    assert batch.shape == (2, 2, n)
    with pytest.raises(ValueError, match="unknown sampler"):
        generate(tiny, envelope, rate, n, steps=2, sampler_type="nope")


def test_any_length_by_windows(tiny):
    from folai_models.synth.sampling import windowed_renderer
    from folai_models.windowed_render import iter_windowed_render

    rate = 125.0
    envelope = np.full(340, 0.2, np.float32)  # 2.72 s in windows of 1 s
    render = windowed_renderer(tiny, rate, steps=2, sampler_type="dpmpp-2m")
    blocks = list(iter_windowed_render(render, envelope, rate, tiny.sample_rate, window_s=1.0))
    total = sum(b.shape[1] for b in blocks)
    assert total == int(round(len(envelope) / rate * tiny.sample_rate))
    assert all(b.shape[0] == 2 for b in blocks)


def test_control_works_after_short_training():
    """Tiny model on synthetic hits: with the ControlNet, the output follows a new envelope better."""
    from folai_models.synth.control_experiment import ExperimentConfig, run_control_experiment

    config = ExperimentConfig(clip_samples=2048, base_steps=100, controlnet_steps=150, batch_size=8,
                              controlnet_lr=1e-3, eval_clips=6, sampling_steps=20)
    result = run_control_experiment(config, log=None)
    on, off = result["scores"]["on"], result["scores"]["off"]
    # measured (seeds 0 / 1): correlation 0.16 / 0.14 with, -0.03 / 0.04 without; E-L1 0.094 / 0.112 vs 0.144 / 0.162
    assert on["correlation"] > off["correlation"] + 0.05, result
    assert on["e_l1"] < off["e_l1"], result
