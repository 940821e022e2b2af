"""The papers' metrics: FAD-P, FAD-C, FAD-LC, CLAP score, FAVD.

Each network's published checkpoint layout (keys and shapes) is written out here from the published
architecture and compared with the network built at full size: the real file then loads strictly.
Everything else runs on tiny random-weight networks of the same architecture, put into a test model
store the way ``sonorize models pull NAME --from FILE`` places hand-fetched files.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from data_catalog.model_store import ModelStore  # noqa: E402
from folai_models.paper_metrics import audio_visual_rows, clap_score, fad, favd  # noqa: E402
from folai_models.paper_metrics.i3d import I3DConfig, create_i3d, i3d_embed  # noqa: E402
from folai_models.paper_metrics.panns import PannsConfig, create_panns, panns_embed  # noqa: E402
from folai_models.paper_metrics.vggish import VGGishConfig, create_vggish, log_mel_patches, mel_matrix, vggish_embed  # noqa: E402
from tasks import paper_metric_tasks as pm  # noqa: E402
from clap_stand_ins import hash_free  # noqa: E402

HAVE_FADTK = importlib.util.find_spec("fadtk") is not None and importlib.util.find_spec("hypy_utils") is not None
HAVE_MSCLAP = importlib.util.find_spec("msclap") is not None
needs_fadtk = pytest.mark.skipif(not HAVE_FADTK, reason="fadtk is not installed (bash setup.sh eval installs it)")


def _bn(prefix: str, n: int, counter: bool = True) -> dict:
    keys = {f"{prefix}.{p}": (n,) for p in ("weight", "bias", "running_mean", "running_var")}
    if counter:
        keys[f"{prefix}.num_batches_tracked"] = ()
    return keys


def published_panns_layout() -> dict[str, tuple[int, ...]]:
    """Wavegram_Logmel_Cnn14_mAP=0.439.pth's 'model': wavegram front end, log-mel CNN14, fc1, fc_audioset."""
    keys = {"pre_conv0.weight": (64, 1, 11), **_bn("pre_bn0", 64),
            "spectrogram_extractor.stft.conv_real.weight": (513, 1, 1024),
            "spectrogram_extractor.stft.conv_imag.weight": (513, 1, 1024),
            "logmel_extractor.melW": (513, 64), **_bn("bn0", 64),
            "fc1.weight": (2048, 2048), "fc1.bias": (2048,), "fc_audioset.weight": (527, 2048), "fc_audioset.bias": (527,)}
    for name, cin, cout in (("pre_block1", 64, 64), ("pre_block2", 64, 128), ("pre_block3", 128, 128)):
        keys.update({f"{name}.conv1.weight": (cout, cin, 3), f"{name}.conv2.weight": (cout, cout, 3),
                     **_bn(f"{name}.bn1", cout), **_bn(f"{name}.bn2", cout)})
    for name, cin, cout in (("pre_block4", 4, 64), ("conv_block1", 1, 64), ("conv_block2", 128, 128),
                            ("conv_block3", 128, 256), ("conv_block4", 256, 512), ("conv_block5", 512, 1024),
                            ("conv_block6", 1024, 2048)):
        keys.update({f"{name}.conv1.weight": (cout, cin, 3, 3), f"{name}.conv2.weight": (cout, cout, 3, 3),
                     **_bn(f"{name}.bn1", cout), **_bn(f"{name}.bn2", cout)})
    return keys


def published_vggish_layout() -> dict[str, tuple[int, ...]]:
    """vggish-10086976.pth: VGG 'A' features (Sequential indices with ReLU/pool gaps) and 3 FC layers."""
    keys = {}
    for index, cin, cout in ((0, 1, 64), (3, 64, 128), (6, 128, 256), (8, 256, 256), (11, 256, 512), (13, 512, 512)):
        keys[f"features.{index}.weight"], keys[f"features.{index}.bias"] = (cout, cin, 3, 3), (cout,)
    for index, cin, cout in ((0, 512 * 4 * 6, 4096), (2, 4096, 4096), (4, 4096, 128)):
        keys[f"embeddings.{index}.weight"], keys[f"embeddings.{index}.bias"] = (cout, cin), (cout,)
    return keys


I3D_MIXED = {"mixed_3b": (192, (64, 96, 128, 16, 32, 32)), "mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
             "mixed_4b": (480, (192, 96, 208, 16, 48, 64)), "mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
             "mixed_4d": (512, (128, 128, 256, 24, 64, 64)), "mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
             "mixed_4f": (528, (256, 160, 320, 32, 128, 128)), "mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
             "mixed_5c": (832, (384, 192, 384, 48, 128, 128))}


def published_i3d_layout() -> dict[str, tuple[int, ...]]:
    """hassony2 model_rgb.pth (saved in 2017: BatchNorm without num_batches_tracked)."""
    keys = {}

    def unit(name, cin, cout, k):
        keys[f"{name}.conv3d.weight"] = (cout, cin, k, k, k)
        keys.update(_bn(f"{name}.batch3d", cout, counter=False))

    unit("conv3d_1a_7x7", 3, 64, 7)
    unit("conv3d_2b_1x1", 64, 64, 1)
    unit("conv3d_2c_3x3", 64, 192, 3)
    for name, (cin, c) in I3D_MIXED.items():
        unit(f"{name}.branch_0", cin, c[0], 1)
        unit(f"{name}.branch_1.0", cin, c[1], 1)
        unit(f"{name}.branch_1.1", c[1], c[2], 3)
        unit(f"{name}.branch_2.0", cin, c[3], 1)
        unit(f"{name}.branch_2.1", c[3], c[4], 3)
        unit(f"{name}.branch_3.1", cin, c[5], 1)
    keys["conv3d_0c_1x1.conv3d.weight"], keys["conv3d_0c_1x1.conv3d.bias"] = (400, 1024, 1, 1, 1), (400,)
    return keys


def published_msclap_audio_layout() -> dict[str, tuple[int, ...]]:
    """CLAP_weights_2023.pth's 'audio_encoder.*' (prefix removed): HTS-AT (Swin-T, 4 x 4 patches of a
    256 x 256 mel image, windows of 8, depths 2-2-6-2, shifted-window masks as buffers) + projection."""
    keys = {"base.htsat.spectrogram_extractor.stft.conv_real.weight": (513, 1, 1024),
            "base.htsat.spectrogram_extractor.stft.conv_imag.weight": (513, 1, 1024),
            "base.htsat.logmel_extractor.melW": (513, 64), **_bn("base.htsat.bn0", 64),
            "base.htsat.patch_embed.proj.weight": (96, 1, 4, 4), "base.htsat.patch_embed.proj.bias": (96,),
            "base.htsat.patch_embed.norm.weight": (96,), "base.htsat.patch_embed.norm.bias": (96,),
            "base.htsat.norm.weight": (768,), "base.htsat.norm.bias": (768,),
            "base.htsat.tscam_conv.weight": (527, 768, 2, 3), "base.htsat.tscam_conv.bias": (527,),
            "base.htsat.head.weight": (527, 527), "base.htsat.head.bias": (527,),
            "projection.linear1.weight": (1024, 768), "projection.linear2.weight": (1024, 1024),
            "projection.layer_norm.weight": (1024,), "projection.layer_norm.bias": (1024,)}
    for i, (depth, heads) in enumerate(zip((2, 2, 6, 2), (4, 8, 16, 32))):
        dim, resolution = 96 * 2 ** i, 64 // 2 ** i
        for j in range(depth):
            p = f"base.htsat.layers.{i}.blocks.{j}."
            keys.update({p + "norm1.weight": (dim,), p + "norm1.bias": (dim,), p + "norm2.weight": (dim,),
                         p + "norm2.bias": (dim,), p + "attn.relative_position_bias_table": (15 * 15, heads),
                         p + "attn.relative_position_index": (64, 64), p + "attn.qkv.weight": (3 * dim, dim),
                         p + "attn.qkv.bias": (3 * dim,), p + "attn.proj.weight": (dim, dim), p + "attn.proj.bias": (dim,),
                         p + "mlp.fc1.weight": (4 * dim, dim), p + "mlp.fc1.bias": (4 * dim,),
                         p + "mlp.fc2.weight": (dim, 4 * dim), p + "mlp.fc2.bias": (dim,)})
            if j % 2 == 1 and resolution > 8:  # shifted windows keep their mask, unless one window covers all
                keys[p + "attn_mask"] = ((resolution // 8) ** 2, 64, 64)
        if i < 3:
            p = f"base.htsat.layers.{i}.downsample."
            keys.update({p + "reduction.weight": (2 * dim, 4 * dim), p + "norm.weight": (4 * dim,),
                         p + "norm.bias": (4 * dim,)})
    return keys


def _layout(module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_full_size_networks_have_the_published_layouts():
    assert _layout(create_panns()) == published_panns_layout()
    with torch.device("meta"):
        assert _layout(create_vggish()) == published_vggish_layout()
        i3d = create_i3d()
    got = {k: v for k, v in _layout(i3d).items() if not k.endswith("num_batches_tracked")}
    assert got == published_i3d_layout()
    assert i3d.feature_dim == 1024


@pytest.mark.skipif(not HAVE_MSCLAP, reason="msclap is not installed (bash setup.sh eval installs it)")
def test_msclap_audio_encoder_has_the_published_layout():
    from folai_models.paper_metrics.msclap_audio import create_msclap_audio

    assert _layout(create_msclap_audio()) == published_msclap_audio_layout()


def _random_state(layout: dict) -> dict:
    gen = torch.Generator().manual_seed(0)
    return {k: (torch.randn(s, generator=gen) * 0.1 if s else torch.tensor(0)) for k, s in layout.items()}


def test_published_i3d_file_loads_strictly_without_batch_counters():
    from data_catalog.model_store.errors import StateDictMismatchError
    from data_catalog.model_store.loading import load_into

    model = create_i3d()
    state = _random_state(published_i3d_layout())
    load_into(model, pm.with_batch_counters(model, state), source="model_rgb.pth")
    del state["mixed_5c.branch_0.conv3d.weight"]
    with pytest.raises(StateDictMismatchError, match="mixed_5c.branch_0.conv3d.weight"):
        load_into(model, pm.with_batch_counters(model, state), source="model_rgb.pth")


def test_tiny_networks_embed_with_the_published_grids():
    panns = create_panns(PannsConfig(width=16, classes=3))
    audio = np.random.default_rng(0).standard_normal(32000 * 3).astype(np.float32) * 0.1
    emb = panns_embed(panns, audio, window_s=1.0, hop_s=1.0)
    assert emb.shape == (3, 512) and torch.isfinite(emb).all()

    patches = log_mel_patches(np.zeros(16000 * 2))
    assert patches.shape == (2, 1, 96, 64)  # two 0.96 s patches in 2 s
    assert mel_matrix(257)[0].sum() == 0 and mel_matrix(257).max() <= 1
    vgg = create_vggish(VGGishConfig(width=4, fc=8))
    assert vggish_embed(vgg, audio[:32000]).shape == (2, 128)

    i3d = create_i3d(I3DConfig(divisor=16, classes=5))
    frames = np.random.default_rng(1).integers(0, 255, (20, 48, 64, 3), dtype=np.uint8)
    feats = i3d_embed(i3d, frames, stack=8, step=8, crop=32, resize=36)
    assert feats.shape == (2, i3d.feature_dim)  # 20 frames: two full stacks of 8, the rest dropped


def test_scores():
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal((20, 6)) for _ in range(3)]
    assert fad(clips, clips) == pytest.approx(0.0, abs=1e-6)
    assert fad(clips, [c + 3 for c in clips]) == pytest.approx(9 * 6, rel=1e-3)  # mean shift of 3 in 6 dims
    rows = audio_visual_rows(np.ones((3, 4)), np.zeros((5, 2)))
    assert rows.shape == (3, 6)  # truncated to the shorter, video first (the toolkit's hstack)
    pairs = [(rng.standard_normal((10, 4)), rng.standard_normal((12, 3))) for _ in range(3)]
    assert favd(pairs, pairs) == pytest.approx(0.0, abs=1e-6)
    ref = {"a": np.array([1.0, 0.0]), "b": np.array([[0.0, 2.0], [0.0, 4.0]])}
    assert clap_score(ref, {"a": np.array([2.0, 0.0]), "b": np.array([1.0, 0.0]), "c": np.ones(2)}) == (0.5, 2)
    with pytest.raises(ValueError, match="no generated clip"):
        clap_score(ref, {"z": np.ones(2)})


def test_missing_weights_are_named_as_skipped(tmp_path):
    reasons = pm.metric_skip_reasons(ModelStore(tmp_path / "empty"))
    assert reasons["fad_p"] == ("skipped: weights for panns-wavegram-logmel missing "
                                "(sonorize models pull panns-wavegram-logmel)")
    assert reasons["favd"] == "skipped: weights for i3d-rgb missing (sonorize models pull i3d-rgb)"
    if HAVE_MSCLAP:
        assert reasons["fad_c"] == "skipped: weights for msclap-2023 missing (sonorize models pull msclap-2023)"
    assert set(reasons) == set(pm.PAPER_METRICS)
    results = pm.paper_metrics({}, {}, {}, reasons)
    assert results == reasons


@needs_fadtk
def test_metrics_from_a_store_of_tiny_weights(tmp_path, monkeypatch):
    """PANNs and FAVD networks saved at tiny sizes, pulled into a store, embedded through fadtk's loader."""
    from folai_models.paper_metrics.fadtk_loaders import EmbeddingLoader

    store = ModelStore(tmp_path / "store", registry=hash_free(["panns-wavegram-logmel", "vggish", "i3d-rgb"]))
    tiny = {"panns-wavegram-logmel": create_panns(PannsConfig(width=16, classes=3)),
            "vggish": create_vggish(VGGishConfig(width=4, fc=8)), "i3d-rgb": create_i3d(I3DConfig(divisor=16))}
    for name, module in tiny.items():
        path = tmp_path / store.spec(name).files[0].filename
        state = module.state_dict()
        torch.save({"model": state} if name.startswith("panns") else state, path)
        store.add_file(name, path)
    assert "fad_p" not in pm.metric_skip_reasons(store) and "favd" not in pm.metric_skip_reasons(store)
    # the store's loaders build the published sizes: load the tiny ones the same way
    monkeypatch.setattr("folai_models.paper_metrics.panns.create_panns",
                        lambda config=None: create_panns(PannsConfig(width=16, classes=3)))
    embed = pm.load_embedder("panns", store)
    loader = EmbeddingLoader("panns-tiny", 512, 32000, lambda: embed)
    rng = np.random.default_rng(0)
    sets = [[rng.standard_normal(32000 * 12).astype(np.float32) * 0.1 for _ in range(2)] for _ in range(2)]
    ref, gen = ([loader.get_embedding(a).astype(np.float64) for a in s] for s in sets)
    assert ref[0].shape == (3, 512)  # 12 s: 10 s windows every 1 s, three starts up to the end
    assert np.isfinite(fad(ref, gen)) and fad(ref, ref) == pytest.approx(0.0, abs=1e-3)

    # FAVD from video files: I3D on 25 fps 224 x 224 frames, VGGish on the 16 kHz sound
    from data_catalog.examples import make_bouncing_ball_video

    monkeypatch.setattr("folai_models.paper_metrics.i3d.create_i3d", lambda config=None: create_i3d(I3DConfig(divisor=16)))
    monkeypatch.setattr("folai_models.paper_metrics.vggish.create_vggish",
                        lambda config=None: create_vggish(VGGishConfig(width=4, fc=8)))
    embedders = {m: pm.load_embedder(m, store) for m in ("i3d", "vggish")}
    videos = [tmp_path / f"clip{i}.mp4" for i in range(2)]
    for video in videos:
        make_bouncing_ball_video(video, duration_s=3.0, size=(160, 120), with_audio=True)
    features = {str(v): pm.file_features(str(v), embedders) for v in videos}
    first = features[str(videos[0])]
    assert first["i3d"].shape == (1, 64) and first["vggish"].shape == (3, 128)  # one 64-frame stack; 0.96 s patches
    results = pm.paper_metrics(features, features, {}, {m: "skipped: test" for m in pm.PAPER_METRICS if m != "favd"})
    assert results["favd"] == pytest.approx(0.0, abs=1e-3)
