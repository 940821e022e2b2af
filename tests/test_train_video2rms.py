"""Training flow and the video2rms engine, end to end on tiny generated media."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_catalog.examples import make_bouncing_ball_video
from settings_env import settings_environment, use_settings

pytestmark = pytest.mark.needs_ffmpeg

TINY = {"conv_channels": 16, "lstm_hidden": 8, "window_s": 2.0, "batch_size": 4, "epochs": 2,
        "train_hop_s": 1.0, "best_metric": "onset_f1"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, prefect_home):
    """Three clips preprocessed once; their cache and catalog folders."""
    from flows.preprocess_flow import preprocess

    root = tmp_path_factory.mktemp("tiny-dataset")
    for i, seconds in enumerate((3.0, 4.0, 3.0)):
        make_bouncing_ball_video(root / f"clip{i}.mp4", duration_s=seconds, with_audio=True)
    dirs = {"SONORIZE_CACHE_DIR": str(root / "cache"), "SONORIZE_CATALOG_DIR": str(root / "catalog")}
    with settings_environment(dirs):
        result = preprocess(dataset="folder", root=str(root), encoder="motion")
    assert result["n_failed"] == 0, result
    return root, dirs


@pytest.fixture
def dataset(prepared, monkeypatch):
    """The preprocessed clips' folder, with this test's settings pointing at their caches."""
    root, dirs = prepared
    use_settings(monkeypatch, dirs)
    return root


def _train(tmp, *, mirror_augment: bool = False, encoder: str = "motion", **overrides):
    from flows.train_video2rms_flow import train_video2rms

    return train_video2rms(dataset="folder", encoder=encoder, out_dir=str(tmp), config={**TINY, **overrides},
                           holdout=["clip2"], device="cpu", mirror_augment=mirror_augment)


def test_train_checkpoints_and_resume(dataset, tmp_path):
    first = _train(tmp_path)
    assert first["epochs_run"] == 2 and first["val_items"] == ["clip2"]
    assert {"e_l1", "correlation", "acc@5", "onset_f1"} <= set(first["history"][-1])
    assert (tmp_path / "last.safetensors").is_file() and (tmp_path / "best.safetensors").is_file()
    assert (tmp_path / "best.onnx").is_file()  # exported at the end: the engine runs it without PyTorch
    meta = json.loads((tmp_path / "last.json").read_text())
    assert meta["epoch"] == 2 and len(meta["extra"]["feature_mean"]) == 73

    resumed = _train(tmp_path, epochs=4)  # a larger budget continues where it stopped
    assert [row["epoch"] for row in resumed["history"]] == [3, 4]


def test_catalog_rows_per_evaluation(dataset, tmp_path):
    import pyarrow.dataset as ds

    from data_catalog.settings import get_settings

    _train(tmp_path)
    rows = ds.dataset(get_settings().catalog_dir / "video2rms_epochs", format="parquet").to_table().to_pylist()
    assert {r["epoch"] for r in rows} >= {1, 2} and all(json.loads(r["metrics_json"]) for r in rows)


def test_video2rms_engine_in_the_sonorize_flow(dataset, tmp_path, monkeypatch):
    from data_catalog.settings import get_settings
    from flows.sonorize_flow import sonorize

    trained = _train(tmp_path / "ckpt")
    monkeypatch.setenv("SONORIZE_VIDEO2RMS_CHECKPOINT", trained["best_checkpoint"])
    get_settings.cache_clear()
    run = sonorize(paths=[str(dataset / "clip0.mp4")], out_dir=str(tmp_path / "out"), envelope_engine="video2rms")
    record = run["videos"][0]
    assert run["envelope_engine"] == "video2rms" and record["status"] == "ok", record
    assert record["engines"]["envelope"] == "video2rms"
    assert record["metrics"]["vs_original_audio"]["n_frames"] > 0


def _load(checkpoint):
    """(model, config, sidecar) of a Video2RMS checkpoint."""
    from data_catalog.checkpoints import load_checkpoint_state
    from folai_models.video2rms import Video2RMS

    state, meta = load_checkpoint_state(checkpoint, model="Video2RMS")
    model = Video2RMS.from_checkpoint(state, meta)
    return model, model.config, meta


def test_checkpoint_of_other_features_is_refused(dataset, tmp_path):
    from data_catalog.checkpoints import CheckpointError, save_checkpoint, sidecar_path
    from tasks.engines.video2rms import load_video2rms

    trained = _train(tmp_path / "ckpt", epochs=1)
    model, config, meta = _load(trained["best_checkpoint"])
    assert meta["extra"]["feature_revision"].startswith("motion-v")
    load_video2rms(trained["best_checkpoint"], "cpu")  # the features it was trained on: loads
    old = save_checkpoint(tmp_path / "old.safetensors", model, config, epoch=1,
                          extra={**meta["extra"], "feature_revision": "motion-v1-224|opencv"})
    with pytest.raises(CheckpointError, match="trained on features 'motion-v1-224"):
        load_video2rms(str(old), "cpu")
    encoder_part = meta["extra"]["feature_revision"].split("|")[0]
    other_flow = save_checkpoint(tmp_path / "flow.safetensors", model, config, epoch=1,
                                 extra={**meta["extra"], "feature_revision": f"{encoder_part}|opencv4.8.0-dis-medium"})
    load_video2rms(str(other_flow), "cpu")  # another OpenCV version: nearly the same flow, loads
    for preset in ("ultrafast", "medium"):  # the features are made with the preset the checkpoint names
        named = save_checkpoint(tmp_path / f"{preset}.safetensors", model, config, epoch=1,
                                extra={**meta["extra"], "feature_revision": f"{encoder_part}|opencv4.8.0-dis-{preset}"})
        assert load_video2rms(str(named), "cpu")[2].flow.preset == preset
    sidecar = json.loads(sidecar_path(old).read_text())
    sidecar_path(old).write_text(json.dumps({**sidecar, "config": {**sidecar["config"], "conv_channels": 32}}))
    with pytest.raises(CheckpointError, match=r"old\.safetensors: weights do not load into the configured Video2RMS"):
        load_video2rms(str(old), "cpu")  # the engine names the file when the weights do not fit


def test_tampered_checkpoint_is_refused(dataset, tmp_path):
    from data_catalog.checkpoints import CheckpointError, load_checkpoint_state

    trained = _train(tmp_path)
    weights = Path(trained["best_checkpoint"])
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=weights.name):
        load_checkpoint_state(weights)


def test_unknown_holdout_and_missing_dataset_are_clear(dataset, tmp_path):
    from data_catalog.errors import SonorizeInputError
    from flows.train_video2rms_flow import train_video2rms

    with pytest.raises(ValueError, match="held-out items not in the dataset"):
        train_video2rms(dataset="folder", config=TINY, holdout=["nope"], out_dir=str(tmp_path), device="cpu")
    with pytest.raises(SonorizeInputError, match="run the preprocess flow"):
        train_video2rms(dataset="walking_the_maps", config=TINY, out_dir=str(tmp_path), device="cpu")


def test_mirror_augment_doubles_the_training_data(dataset, tmp_path):
    plain = _train(tmp_path / "plain", epochs=1)
    mirrored = _train(tmp_path / "plain", epochs=1, mirror_augment=True)  # other data: starts afresh
    assert mirrored["n_train_chunks"] == 2 * plain["n_train_chunks"] > 0
    assert [row["epoch"] for row in mirrored["history"]] == [1]
    _, _, meta = _load(mirrored["best_checkpoint"])
    assert meta["extra"]["mirror_augment"] is True


def test_features_of_several_encoder_versions_are_refused(dataset, tmp_path, monkeypatch):
    import flows.train_video2rms_flow as flow_module
    from tasks.training_data import load_dataset_videos

    videos = load_dataset_videos("folder", "motion")
    videos[0].feature_revision = "motion-v1-224|opencv"  # as after an encoder upgrade without re-preprocessing
    monkeypatch.setattr(flow_module, "load_dataset_videos", lambda dataset, encoder: videos)
    with pytest.raises(ValueError, match="several encoder versions.*re-run preprocess"):
        _train(tmp_path)


def test_mirror_augment_refuses_learned_features(dataset, tmp_path):
    with pytest.raises(ValueError, match="'tc_clip' features cannot be mirrored"):
        _train(tmp_path, mirror_augment=True, encoder="tc_clip")


def test_presence_decoding_calibrated_and_relative_features(dataset, tmp_path):
    from flows.train_video2rms_flow import train_video2rms
    from folai_models.video2rms.calibrate import PRESENCE_GRID

    result = train_video2rms(dataset="folder", encoder="motion", out_dir=str(tmp_path),
                             config={**TINY, "decode_method": "presence"}, holdout=["clip2"], device="cpu",
                             relative_features=True)
    assert all(row["presence_threshold"] in PRESENCE_GRID for row in result["history"])
    model, config, meta = _load(result["best_checkpoint"])
    assert config.decode_method == "presence" and config.presence_threshold in PRESENCE_GRID
    assert config.input_dim == 2 * 73 and meta["extra"]["relative_features"] is True


def test_onsets_decoding_calibrated_and_round_trips(dataset, tmp_path):
    from data_catalog.dataset_tables import load_video_arrays, read_videos
    from flows.train_video2rms_flow import train_video2rms
    from folai_models.video2rms import FeatureNormalizer, predict_envelope
    from folai_models.video2rms.calibrate import ONSET_GRID, ONSET_PRESENCE_GRID

    result = train_video2rms(dataset="folder", encoder="motion", out_dir=str(tmp_path),
                             config={**TINY, "decode_method": "onsets", "onset_weight": 1.0}, holdout=["clip2"],
                             device="cpu")
    row = result["history"][-1]
    assert row["onset_threshold"] in ONSET_GRID and row["presence_threshold"] in ONSET_PRESENCE_GRID
    model, config, meta = _load(result["best_checkpoint"])
    assert model.onset_head is not None and config.onset_threshold in ONSET_GRID
    video = next(r for r in read_videos(dataset="folder", status="ok").to_pylist() if r["item_id"] == "clip2")
    features = FeatureNormalizer.from_dict(meta["extra"])(load_video_arrays(video)[0])
    again, _, _ = _load(result["best_checkpoint"])
    np.testing.assert_array_equal(predict_envelope(model, features, config),
                                  predict_envelope(again, features, config))


def test_presence_decoding_is_silent_below_the_threshold():
    from folai_models.video2rms.decode import probabilities_to_envelope

    probs = np.zeros((3, 64))
    probs[0, 0] = 1.0                       # sure silence
    probs[1, 0], probs[1, 40] = 0.7, 0.3    # a likely miss below a 0.5 threshold
    probs[2, 0], probs[2, 40] = 0.2, 0.8    # sound
    env = probabilities_to_envelope(probs, "presence", presence_threshold=0.5)
    level = probabilities_to_envelope(np.eye(64)[[40]], "argmax")[0]
    assert env[0] == 0 and env[1] == 0 and env[2] == np.float32(level)
    assert probabilities_to_envelope(probs, "presence", presence_threshold=0.2)[1] == np.float32(level)


def test_confidence_floor_recorded_and_auto_adds_the_preview_when_the_model_is_unsure(dataset, tmp_path,
                                                                                      monkeypatch):
    from data_catalog.checkpoints import load_onnx_export, update_checkpoint_extra
    from data_catalog.media import probe_video
    from data_catalog.settings import get_settings
    from folai_models import preview_envelope
    from tasks.engines.video_cues import video_cues
    from tasks.envelope_tasks import predict_envelope_task

    trained = _train(tmp_path / "ckpt", epochs=1, onset_weight=1.0, decode_method="onsets")
    best = Path(trained["best_checkpoint"])
    floor = json.loads(best.with_suffix(".json").read_text())["extra"]["onset_confidence_floor"]
    assert 0.0 < floor < 1.0  # the onset head's surest frames on the held-out clip
    monkeypatch.setenv("SONORIZE_VIDEO2RMS_CHECKPOINT", str(best))
    get_settings.cache_clear()
    info = probe_video(dataset / "clip0.mp4")  # a still camera: auto picks the learned model

    update_checkpoint_extra(best, {"onset_confidence_floor": 0.0})  # sure enough of any footage
    learned, _, details = predict_envelope_task.fn(info, "auto")
    assert details["chosen"] == "video2rms" and 0.0 <= details["onset_confidence"] <= 1.0

    update_checkpoint_extra(best, {"onset_confidence_floor": 1.0})  # never that sure: unlike its domain
    load_onnx_export(best)  # the weights and config are unchanged: the export still verifies
    merged, rate, details = predict_envelope_task.fn(info, "auto")
    assert details["chosen"] == "video2rms+preview" and "less sure of its onsets" in details["reason"]
    preview = preview_envelope.envelope_from_motion(video_cues(info, pose="off").features, frame_rate=30.0,
                                                    n_frames_out=len(merged))
    assert rate == 125.0 and len(merged) == len(learned)
    np.testing.assert_allclose(merged, np.maximum(learned, preview), atol=1e-6)  # both engines' events
