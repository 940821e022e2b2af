"""The ``train-video2rms`` flow: train the envelope model on a preprocessed dataset.

Reads features and envelope targets from the caches the ``preprocess`` flow
filled, trains Video2RMS (FolAI IV-C) on the train split, scores the
validation videos every ``eval_every`` epochs (E-L1, correlation, Acc@1/5/10,
onset F1 against their unsmoothed envelopes), records each evaluation as a
Prefect artifact and as rows of the catalog table ``video2rms_epochs``, keeps
``last`` and ``best`` checkpoints (safetensors + JSON) and resumes from
``last`` after an interruption. At the end the best model's onset confidence
floor on the validation videos is recorded in its sidecar (``auto`` trusts the
model on footage it is at least that sure of), and it is exported to
ONNX beside it (``best.onnx``, verified against the model), so the envelope
engine runs it on the CPU without PyTorch; without the ``onnx`` package it is
only noted.

The training itself (epochs, validation, threshold calibration, level map) is
:func:`folai_models.video2rms.fit.fit`; this flow loads the data, resumes and
keeps what each epoch reports.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from data_catalog.checkpoints import (
    CheckpointError,
    load_checkpoint_state,
    load_optimizer_state,
    save_checkpoint,
    update_checkpoint_extra,
)
from data_catalog.errors import OptionError
from data_catalog.run_records import append_rows
from data_catalog.settings import get_settings
from flows import run_ids
from folai_models.video2rms import Video2RMSConfig
from folai_models.video2rms.normalizer import FeatureNormalizer
from tasks.feature_tasks import resolve_device
from tasks.training_data import load_dataset_videos

if TYPE_CHECKING:
    from folai_models.video2rms.fit import Epoch

EPOCHS_TABLE = "video2rms_epochs"
EPOCHS_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("dataset", pa.string()), ("encoder", pa.string()), ("epoch", pa.int64()),
    ("train_loss", pa.float64()), ("metrics_json", pa.string()), ("is_best", pa.bool_()),
    ("recorded_at", pa.timestamp("us", tz="UTC")),
])


def split_videos(videos, holdout: list[str] | None, train_split: str, val_split: str):
    """(train, validation): by explicit held-out item ids, else by the dataset's splits."""
    if holdout:
        unknown = set(holdout) - {v.item_id for v in videos}
        if unknown:
            raise OptionError(f"held-out items not in the dataset: {sorted(unknown)}")
        return [v for v in videos if v.item_id not in holdout], [v for v in videos if v.item_id in holdout]
    train = [v for v in videos if v.split == train_split]
    val = [v for v in videos if v.split == val_split]
    if not train or not val:
        splits = sorted({v.split for v in videos})
        raise OptionError(f"need videos in splits {train_split!r} and {val_split!r} (found {splits}); "
                         "or pass holdout=[item ids]")
    return train, val


@flow(name="train-video2rms", log_prints=True)
def train_video2rms(
    dataset: str,
    encoder: str = "motion",
    out_dir: str | None = None,
    config: dict | None = None,
    holdout: list[str] | None = None,
    train_split: str = "train",
    val_split: str = "valid",
    eval_every: int = 1,
    device: str = "auto",
    resume: bool = True,
    relative_features: bool = False,
    mirror_augment: bool = False,
) -> dict:
    """Train Video2RMS; return the best epoch's metrics and the checkpoint paths.

    Parameters
    ----------
    dataset : a dataset preprocessed with ``encoder`` features.
    encoder : the feature encoder (``motion``, ``tc_clip``, ``bn_inception``).
    out_dir : checkpoint folder (default ``<cache>/video2rms/<dataset>-<encoder>``).
    config : :class:`Video2RMSConfig` fields to override (``input_dim`` is set from the features).
    holdout : item ids to validate on instead of the ``val_split`` split.
    eval_every : epochs between validations (and best-checkpoint checks).
    device : ``auto`` (the GPU when present), ``cpu`` or ``cuda``.
    resume : continue from ``out_dir/last.safetensors`` when its config matches.
    relative_features : also feed each feature relative to its video's 95th percentile.
    mirror_augment : also train on every training video mirrored left-right (twice the
        data; the encoder must be ``mirrorable``, e.g. ``motion``; gravity forbids an
        up-down mirror).

    With ``decode_method: presence`` (or ``onsets``) the presence (and onset)
    threshold is calibrated on the training videos (best mean onset F1) at
    every validation, and the best checkpoint stores the thresholds it was
    validated with.
    """
    from folai_models.video2rms import Video2RMS, create_video2rms_from_config
    from folai_models.video2rms.fit import fit, prepare_fit_data
    from folai_models.video2rms.train import (
        EvalVideo,
        create_optimizer,
        seed_everything,
    )

    logger = get_run_logger()
    mirror = _mirror_function(encoder) if mirror_augment else None
    device = resolve_device(device)
    out = Path(out_dir) if out_dir else get_settings().cache_dir / "video2rms" / f"{dataset}-{encoder}"
    videos = load_dataset_videos(dataset, encoder)
    train, val = split_videos(videos, holdout, train_split, val_split)
    revisions = sorted({v.feature_revision for v in train + val})
    if len(revisions) > 1:
        raise OptionError(f"{dataset}: features of several encoder versions ({', '.join(revisions)}); "
                         "re-run preprocess so every video has the current ones")
    normalizer = FeatureNormalizer.fit([v.features for v in train], relative=relative_features)
    cfg = Video2RMSConfig.from_dict({**(config or {}),
                                     "input_dim": normalizer.output_dim(int(train[0].features.shape[1]))})
    seed_everything(cfg.seed, deterministic=False)
    data = prepare_fit_data([EvalVideo(v.features, v.envelope, v.item_id) for v in train],
                            [EvalVideo(v.features, v.envelope, v.item_id) for v in val], normalizer, cfg, mirror=mirror)
    model = create_video2rms_from_config(cfg).to(device)
    optimizer = create_optimizer(model, cfg)
    extra = {"dataset": dataset, "encoder": encoder, "train_items": [v.item_id for v in train],
             "val_items": [v.item_id for v in val], "mirror_augment": bool(mirror_augment),
             "feature_revision": revisions[0], **normalizer.to_dict()}

    start_epoch, best_metrics = 1, {}
    last_path, best_path = out / "last.safetensors", out / "best.safetensors"
    if resume and last_path.is_file():
        state, meta = load_checkpoint_state(last_path, model="Video2RMS")
        try:  # built and checked strictly; its initialisation draws from the seeded RNG, as it always has
            previous = Video2RMS.from_checkpoint(state, meta)
        except ValueError as error:
            raise CheckpointError(last_path, str(error)) from None
        same_data = all(meta.get("extra", {}).get(k, False) == extra[k] for k in ("train_items", "mirror_augment"))
        if _same_model(previous.config, cfg) and same_data:
            model.load_state_dict(previous.state_dict())
            load_optimizer_state(last_path, optimizer)
            start_epoch = int(meta["epoch"]) + 1
            best_metrics = json.loads(best_path.with_suffix(".json").read_text())["metrics"] if best_path.is_file() else {}
            logger.info("resuming from %s at epoch %d", last_path, start_epoch)
        else:
            logger.warning("%s was trained with other settings or data: starting afresh", last_path)

    run_id, _ = run_ids.run_id()  # the Prefect flow run's id (a fresh uuid in a plain run)
    history = []

    def keep(epoch: Epoch) -> None:
        """Checkpoints, catalog rows and artifacts of one epoch."""
        nonlocal best_metrics
        if epoch.validated:
            if epoch.improved:
                best_metrics = {**epoch.metrics, "epoch": epoch.epoch}
                save_checkpoint(best_path, model, epoch.config, optimizer=None, epoch=epoch.epoch,
                                metrics=best_metrics, extra={**extra, "level_map": json.dumps(epoch.level_map)})
            _record_epoch(run_id, dataset, encoder, epoch.row, epoch.metrics, epoch.improved)
            create_table_artifact(key="video2rms-epochs", table=history + [epoch.row],
                                  description=f"Video2RMS on {dataset} ({encoder}): loss and validation per epoch")
        save_checkpoint(last_path, model, cfg, optimizer=optimizer, epoch=epoch.epoch, metrics=epoch.row, extra=extra)
        history.append(epoch.row)
        logger.info("epoch %d: %s%s", epoch.epoch, epoch.row, " (best)" if epoch.improved else "")

    logger.info("training on %d videos (%d chunks), validating on %d, %d epochs, device %s",
                len(train), len(data.chunks), len(val), cfg.epochs, device)
    fit(model, data, cfg, optimizer=optimizer, device=device, start_epoch=start_epoch,
        best=best_metrics.get(cfg.best_metric), eval_every=eval_every, on_epoch=keep)

    if best_path.is_file():
        _record_confidence_floor(best_path, data.val, device, logger)
        _export_onnx(best_path, logger)
    result = {"run_id": run_id, "out_dir": str(out), "best_checkpoint": str(best_path), "best_metric": cfg.best_metric,
              "best": best_metrics, "epochs_run": len(history), "train_items": extra["train_items"],
              "n_train_chunks": len(data.chunks),
              "val_items": extra["val_items"], "history": history}
    create_markdown_artifact(key="video2rms-summary", markdown=_summary(result, dataset, encoder))
    return result


def _record_confidence_floor(checkpoint: Path, videos, device: str, logger) -> None:
    """The best model's onset confidence floor on its (normalised) validation videos, into its sidecar
    (``auto`` reads it)."""
    from folai_models.video2rms import Video2RMS
    from folai_models.video2rms.calibrate import onset_confidence_floor, video_outputs

    state, meta = load_checkpoint_state(checkpoint, model="Video2RMS")
    model = Video2RMS.from_checkpoint(state, meta).to(device)
    floor = onset_confidence_floor(video_outputs(model, videos, model.config, device))
    update_checkpoint_extra(checkpoint, {"onset_confidence_floor": floor})
    logger.info("%s: onset confidence floor %s on %d validation videos", checkpoint, floor, len(videos))


def _export_onnx(checkpoint: Path, logger) -> None:
    """The best checkpoint's ONNX export (seconds; a 6-epoch training takes tens of minutes)."""
    from tasks.video2rms_export import export_video2rms_onnx

    try:
        export_video2rms_onnx(checkpoint)
    except ImportError as error:  # onnx (the video extra) not installed: the checkpoint still runs on PyTorch
        logger.warning("%s: no ONNX export (%s); sonorize export-onnx makes it later", checkpoint, error)


def _mirror_function(encoder: str):
    """The encoder's feature mirror; a clear error for encoders whose features cannot be mirrored."""
    from folai_models.encoders import ENCODERS, encoder_class

    cls = encoder_class(encoder)
    if not cls.mirrorable:
        mirrorable = sorted(name for name, other in ENCODERS.items() if other.mirrorable)
        raise OptionError(f"mirror_augment: {encoder!r} features cannot be mirrored without re-encoding "
                         f"(mirrorable encoders: {', '.join(mirrorable)})")
    return cls.mirror_features


def _same_model(a: Video2RMSConfig, b: Video2RMSConfig) -> bool:
    """Resumable: everything but the epoch budget is unchanged."""
    return {**a.to_dict(), "epochs": 0} == {**b.to_dict(), "epochs": 0}


def _record_epoch(run_id: str, dataset: str, encoder: str, row: dict, metrics: dict, is_best: bool) -> None:
    append_rows(get_settings().catalog_dir, EPOCHS_TABLE, [{
        "run_id": run_id, "dataset": dataset, "encoder": encoder, "epoch": row["epoch"],
        "train_loss": row["train_loss"], "metrics_json": json.dumps(metrics, default=float), "is_best": is_best,
        "recorded_at": datetime.now(timezone.utc)}], f"{run_id}-{row['epoch']:05d}", schema=EPOCHS_SCHEMA)


def _summary(result: dict, dataset: str, encoder: str) -> str:
    best = result["best"]
    keys = ("epoch", "e_l1", "correlation", "acc@1", "acc@5", "acc@10", "onset_f1")
    return "\n".join([
        f"# Video2RMS on `{dataset}` ({encoder} features)", "",
        f"- epochs run: {result['epochs_run']}; best by `{result['best_metric']}`: `{result['best_checkpoint']}`",
        f"- validation videos: {', '.join(result['val_items'])}", "",
        "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys),
        "| " + " | ".join(f"{best.get(k, float('nan')):.4g}" if k != "epoch" else str(best.get(k, ""))
                          for k in keys) + " |",
    ]) + "\n"
