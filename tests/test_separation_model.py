"""AudioSep's separation network (folai_models.separation): official layout, tiny random weights, chunking.

The official layout is written out here from the authors' architecture
(Audio-AGI/AudioSep ``models/resunet.py``: ResUNet30_Base's blocks and
widths, ``get_film_meta``'s traversal naming each FiLM layer
``"<block>-><sub-block>->beta<n>"``, torchlibrosa 0.1.0's STFT/ISTFT kernels),
independently of our classes, and the full-size network must have exactly
those keys and shapes. Everything else runs at a tiny size.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from folai_models.separation.chunking import ChunkPlan, iter_chunked  # noqa: E402
from folai_models.separation.inference import separate, split_audiosep_state  # noqa: E402
from folai_models.separation.resunet import (AUDIOSEP_BASE, ResUNetConfig, config_from_state_dict,  # noqa: E402
                                             create_separator)

TINY = ResUNetConfig(n_fft=256, hop_length=40, condition_size=16, stem_channels=4,
                     encoder_channels=(4, 8, 8, 8, 8, 8))


def _bn(keys: dict, name: str, width: int) -> None:
    for p in ("weight", "bias", "running_mean", "running_var"):
        keys[f"{name}.{p}"] = (width,)
    keys[f"{name}.num_batches_tracked"] = ()


def _res_block(keys: dict, film: dict, name: str, cin: int, cout: int) -> None:
    """ConvBlockRes(cin, cout): bn1(cin), bn2(cout), two bias-free 3x3 convs, a 1x1 shortcut if widths differ."""
    _bn(keys, f"{name}.bn1", cin)
    _bn(keys, f"{name}.bn2", cout)
    keys[f"{name}.conv1.weight"] = (cout, cin, 3, 3)
    keys[f"{name}.conv2.weight"] = (cout, cout, 3, 3)
    if cin != cout:
        keys[f"{name}.shortcut.weight"], keys[f"{name}.shortcut.bias"] = (cout, cin, 1, 1), (cout,)
    film[name.replace(".", "->") + "->beta1"], film[name.replace(".", "->") + "->beta2"] = cin, cout


def official_layout() -> dict[str, tuple[int, ...]]:
    """``ss_model.*`` keys and shapes of audiosep_base_4M_steps.ckpt (ResUNet30(1, 1, 512))."""
    keys: dict = {"stft.conv_real.weight": (1025, 1, 2048), "stft.conv_imag.weight": (1025, 1, 2048),
                  "istft.ola_window": (2048,), "istft.conv_real.weight": (2048, 2048, 1),
                  "istft.conv_imag.weight": (2048, 2048, 1), "pre_conv.weight": (32, 1, 1, 1), "pre_conv.bias": (32,),
                  "after_conv.weight": (3, 32, 1, 1), "after_conv.bias": (3,)}
    _bn(keys, "bn0", 1025)
    film: dict = {}
    encoders = [("encoder_block1", 32, 32), ("encoder_block2", 32, 64), ("encoder_block3", 64, 128),
                ("encoder_block4", 128, 256), ("encoder_block5", 256, 384), ("encoder_block6", 384, 384),
                ("conv_block7a", 384, 384)]
    for name, cin, cout in encoders:
        _res_block(keys, film, f"{name}.conv_block1", cin, cout)
    decoders = [(1, 384, 384, (1, 2)), (2, 384, 384, (2, 2)), (3, 384, 256, (2, 2)), (4, 256, 128, (2, 2)),
                (5, 128, 64, (2, 2)), (6, 64, 32, (2, 2))]
    for j, cin, cout, stride in decoders:
        name = f"decoder_block{j}"
        keys[f"{name}.conv1.weight"] = (cin, cout, *stride)
        _bn(keys, f"{name}.bn1", cin)
        _bn(keys, f"{name}.bn2", cin)
        film[f"{name}->beta1"] = film[f"{name}->beta2"] = cin
        _res_block(keys, film, f"{name}.conv_block2", 2 * cout, cout)
    layout = {f"ss_model.base.{k}": v for k, v in keys.items()}
    for site, width in film.items():
        layout[f"ss_model.film.{site}.weight"], layout[f"ss_model.film.{site}.bias"] = (width, 512), (width,)
    return layout


@pytest.fixture(scope="module")
def full_size():
    return create_separator(AUDIOSEP_BASE)


def test_full_size_network_has_the_official_layout_and_loads_it_strictly(full_size):
    expected = official_layout()
    ours = {f"ss_model.{k}": tuple(v.shape) for k, v in full_size.state_dict().items()}
    assert set(ours) == set(expected), (sorted(set(expected) - set(ours))[:5], sorted(set(ours) - set(expected))[:5])
    assert ours == expected
    assert len([k for k in expected if ".film." in k]) == 2 * 38  # 38 FiLM sites: 7 x 2 encoder, 6 x 4 decoder
    # a checkpoint with exactly these keys (plus the query encoder's) loads strictly, config read from its shapes
    checkpoint = {f"ss_model.{k}": v.clone() for k, v in full_size.state_dict().items()}
    checkpoint["query_encoder.model.logit_scale_a"] = torch.tensor(1.0)
    separator, query = split_audiosep_state(checkpoint)
    assert config_from_state_dict(separator) == AUDIOSEP_BASE and set(query) == {"logit_scale_a"}
    create_separator(AUDIOSEP_BASE).load_state_dict(separator, strict=True)


def test_stft_kernels_equal_torchlibrosa(full_size):
    stft = pytest.importorskip("torchlibrosa.stft")
    theirs_stft = stft.STFT(n_fft=256, hop_length=TINY.hop_length, win_length=256, window="hann", center=True,
                            pad_mode="reflect", freeze_parameters=True)
    theirs_istft = stft.ISTFT(n_fft=256, hop_length=TINY.hop_length, win_length=256, window="hann", center=True,
                              pad_mode="reflect", freeze_parameters=True)
    ours = create_separator(TINY).base
    for mine, theirs in ((ours.stft, theirs_stft), (ours.istft, theirs_istft)):
        for key, value in theirs.state_dict().items():
            assert torch.allclose(mine.state_dict()[key], value, atol=1e-6), key
    x = torch.randn(2, 3000)
    real, imag = ours.stft(x)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip((real, imag), theirs_stft(x)))
    assert torch.allclose(ours.istft(real, imag, 3000), theirs_istft(real, imag, 3000), atol=1e-5)
    assert torch.allclose(ours.istft(real, imag, 3000), x, atol=1e-4)  # perfect reconstruction
    # and at full size (the kernels the checkpoint carries)
    assert torch.allclose(full_size.base.stft.conv_real.weight[5, 0, :4],
                          torch.from_numpy(np.cos(-2 * np.pi * 5 * np.arange(4) / 2048)
                                           * np.sin(np.pi * np.arange(4) / 2048) ** 2).float(), atol=1e-7)


def test_tiny_forward_shapes_zero_input_and_conditioning():
    torch.manual_seed(0)
    model = create_separator(TINY)
    x, cond = torch.randn(3, 5000) * 0.1, torch.randn(3, 16)
    with torch.no_grad():
        y = model(x, cond)
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert torch.equal(model(torch.zeros(2, 4000), cond[:1]), torch.zeros(2, 4000))  # silence stays silent
        assert torch.allclose(model(x[:1], cond[:1]), y[:1], atol=1e-5)  # batch items are independent
        assert not torch.allclose(model(x[:1], cond[1:2]), y[:1])  # the query changes the output
        assert torch.allclose(model(x, cond[:1]), model(x, cond[:1].expand(3, -1)), atol=1e-6)  # broadcast
    with pytest.raises(ValueError):
        model(x[0], cond)
    assert config_from_state_dict(model.state_dict()) == TINY


@pytest.mark.parametrize("n", [1, 37, 1000, 1001, 1600, 1601, 9999])
def test_chunking_covers_every_length_without_seams(n):
    plan = ChunkPlan(window=1000, overlap=400)
    rng = np.random.default_rng(n)
    x = rng.standard_normal((2, n)).astype(np.float32)
    cuts = np.cumsum(rng.integers(1, 700, size=40))
    blocks = np.split(x, cuts[cuts < n], axis=1)
    calls = []

    def scale(windows):
        calls.append(windows.shape)
        return 0.5 * windows

    out = np.concatenate(list(iter_chunked(blocks, scale, plan, batch_windows=3)), axis=1)
    # a linear, local processor must come out exactly: the crossfade weights sum to one
    np.testing.assert_allclose(out, 0.5 * x, atol=1e-6)
    assert sum(c[0] for c in calls) == 2 * plan.n_windows(n) and all(c[1] == 1000 for c in calls)
    assert max(c[0] for c in calls) <= 3 * 2  # batches of at most 3 windows of 2 channels


def test_short_and_long_inputs_through_the_tiny_network():
    torch.manual_seed(1)
    model = create_separator(TINY)
    cond = torch.randn(1, 16)
    plan = ChunkPlan.from_seconds(32000, window_s=0.25, overlap_s=0.1)
    short = (np.random.default_rng(0).standard_normal(2000) * 0.1).astype(np.float32)  # < one window
    out = separate(model, cond, short, plan=plan)
    assert out.shape == short.shape and np.abs(out).max() > 0  # AudioSep's chunking would return zeros here
    assert np.array_equal(separate(model, cond, np.zeros(3000, np.float32), plan=plan), np.zeros(3000))
    t = np.arange(32000) / 32000
    tone = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    out = separate(model, cond, tone, plan=plan, batch_windows=2)
    assert out.shape == tone.shape and np.all(np.isfinite(out))
    # no seam: windows of a (near) time-invariant network agree with one pass over the whole second
    with torch.no_grad():
        whole = model(torch.from_numpy(tone), cond).numpy()
    assert np.abs(out - whole).max() < 0.05 * whole.std()
    assert np.abs(np.diff(out, axis=1)).max() <= 1.05 * np.abs(np.diff(whole, axis=1)).max()
