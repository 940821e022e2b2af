"""The ``train-controlnet`` flow: train FolAI's envelope ControlNet on a preprocessed dataset.

Greatest Hits chunks (or any preprocessed dataset's) from the catalog, decoded
at 44.1 kHz stereo, with per-channel envelopes from the ground-truth audio;
Stable Audio Open from the model store, frozen; the Stable Audio objective;
AdamW lr 1e-4, batch 12, 20k steps (FolAI), bf16 autocast on GPU, optional
gradient checkpointing. Every ``checkpoint_every`` steps: ``last`` (with the
optimizer, to resume) and, when the validation loss improves, ``best``
checkpoints holding only the ControlNet and semantic projections
(safetensors + JSON), a loss-curve table artifact and catalog rows
(``controlnet_steps``). Every ``sample_every`` steps: a demo clip generated
from a validation envelope, written as WAV with its envelope scores in a
markdown artifact.

The training itself (steps, validation loss, demo clips) is
:func:`folai_models.synth.fit.fit`; this flow builds the model, loads the
data, resumes and keeps what the training reports.
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
    load_checkpoint_state,
    load_optimizer_state,
    save_checkpoint,
)
from data_catalog.errors import OptionError
from data_catalog.media import write_wav
from data_catalog.run_records import append_rows
from data_catalog.settings import get_settings
from flows import run_ids
from tasks.controlnet_data import SynthChunk, load_synth_chunks
from tasks.feature_tasks import resolve_device

if TYPE_CHECKING:
    from folai_models.synth.fit import Sample, Validation

STEPS_TABLE = "controlnet_steps"
STEPS_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("dataset", pa.string()), ("step", pa.int64()), ("train_loss", pa.float64()),
    ("val_loss", pa.float64()), ("is_best", pa.bool_()), ("recorded_at", pa.timestamp("us", tz="UTC")),
])


def build_model(base: str, model_overrides: dict | None, device: str):
    """The FolAI model: SAO from the store (``base="store"``), else a named/JSON config with random weights."""
    from folai_models.synth import sao
    from folai_models.synth.model import (
        FolAISynthConfig,
        create_folai_synth_from_config,
    )
    from tasks.engines.weights import load_sao_base, store_sao_config

    overrides = dict(model_overrides or {})
    if base == "store":
        config = FolAISynthConfig.from_dict({**overrides, "base": store_sao_config()})
        model = create_folai_synth_from_config(config)
        load_sao_base(model)
    else:
        path = Path(base)
        base_config = json.loads(path.read_text()) if path.is_file() else sao.load_config(base)
        config = FolAISynthConfig.from_dict({**overrides, "base": base_config})
        model = create_folai_synth_from_config(config)
    return model.to(device), config


@flow(name="train-controlnet", log_prints=True)
def train_controlnet(
    dataset: str = "greatest-hits",
    out_dir: str | None = None,
    config: dict | None = None,
    model: dict | None = None,
    base: str = "store",
    train_split: str = "train",
    val_split: str = "valid",
    val_chunks: int = 4,
    max_chunks: int | None = None,
    device: str = "auto",
    resume: bool = True,
    clap: bool = True,
    cavp: bool = True,
) -> dict:
    """Train the envelope ControlNet; return the losses and checkpoint paths.

    Parameters
    ----------
    dataset : a dataset preprocessed by the ``preprocess`` flow (its ``chunks`` table).
    out_dir : checkpoint folder (default ``<cache>/controlnet/<dataset>``).
    config : :class:`~folai_models.synth.train.ControlNetTrainConfig` fields to override
        (``learning_rate``, ``batch_size``, ``steps``, ``chunk_s``, ``bf16``, ``gradient_checkpointing``,
        ``checkpoint_every``, ``sample_every``, ``sample_steps``, ``seed``).
    model : :class:`~folai_models.synth.model.FolAISynthConfig` fields (``depth_factor``, ``n_blocks``, ...).
    base : ``store``: Stable Audio Open from the model store (what FolAI trains); otherwise the name of a
        config in ``folai_models/synth/configs`` or a JSON path, built with random weights (smoke tests).
    train_split, val_split : dataset splits to train and validate on (validation: the first ``val_chunks``).
    max_chunks : use only this many training chunks (quick runs).
    device : ``auto`` (the GPU when present), ``cpu`` or ``cuda``.
    resume : continue from ``out_dir/last.safetensors`` when its settings match.
    clap : condition on each chunk's LAION-CLAP audio embedding (FolAI); needs ``laion-clap`` and its
        three tokenizer repositories in the model store (the error names the pull commands). ``False``
        trains with the CLAP condition null.
    cavp : condition on CAVP video embeddings of each chunk at 4 fps (FolAI); needs ``cavp`` in the
        model store. ``False`` trains with that condition null.
    """
    from folai_models.synth.fit import fit
    from folai_models.synth.model import ControlNetWeights
    from folai_models.synth.train import ControlNetTrainConfig, create_optimizer

    logger = get_run_logger()
    device = resolve_device(device)
    cfg = ControlNetTrainConfig.from_dict(config or {})
    out = Path(out_dir) if out_dir else get_settings().cache_dir / "controlnet" / dataset
    out.mkdir(parents=True, exist_ok=True)
    net, model_cfg = build_model(base, model, device)
    if net.sample_rate != 44100:
        logger.warning("base model renders %d Hz; FolAI trains at 44.1 kHz", net.sample_rate)
    train = load_synth_chunks(dataset, train_split, cfg.chunk_s, sample_rate=net.sample_rate, max_chunks=max_chunks,
                              log=logger.warning)
    val = load_synth_chunks(dataset, val_split, cfg.chunk_s, sample_rate=net.sample_rate, max_chunks=val_chunks,
                            log=logger.warning, required=False) if val_chunks else []
    if not train:
        raise OptionError(f"no usable {train_split!r} chunks in dataset {dataset!r}")
    val = val or train[:1]
    if clap:
        from tasks.controlnet_data import add_clap_embeddings
        from tasks.engines.weights import load_clap

        embedder = load_clap(device=device)
        add_clap_embeddings(train, embedder, net.sample_rate)
        add_clap_embeddings(val, embedder, net.sample_rate)
        del embedder
    if cavp:
        from tasks.controlnet_data import add_cavp_embeddings
        from tasks.engines.weights import load_cavp

        encoder = load_cavp(device=device)
        add_cavp_embeddings(train + val, encoder, cfg.chunk_s, device=device)
        del encoder
    optimizer = create_optimizer(net.trainable_parameters(), cfg)
    weights = ControlNetWeights(net)
    extra = {"dataset": dataset, "base": base, "train_config": cfg.to_dict(), "n_train_chunks": len(train),
             "clap": bool(clap), "cavp": bool(cavp)}

    last_path, best_path = out / "last.safetensors", out / "best.safetensors"
    start_step, best, history = 0, None, []
    if resume and last_path.is_file():
        state, meta = load_checkpoint_state(last_path, map_location=device, model="ControlNetWeights")
        same = meta["config"] == model_cfg.to_dict() and {**meta["extra"]["train_config"], "steps": 0} == \
            {**cfg.to_dict(), "steps": 0} and meta["extra"].get("clap") == bool(clap) \
            and meta["extra"].get("cavp") == bool(cavp)
        if same:
            net.load_controlnet_state(state)
            load_optimizer_state(last_path, optimizer, map_location=device)
            start_step = int(meta["epoch"])
            history = meta["extra"].get("history", [])
            best = meta["extra"].get("best_val_loss")
            logger.info("resuming from %s at step %d", last_path, start_step)
        else:
            logger.warning("%s was trained with other settings: starting afresh", last_path)

    run_id, _ = run_ids.run_id()  # the Prefect flow run's id (a fresh uuid in a plain run)
    samples = []
    reference = val[0]

    def keep(validation: Validation) -> None:
        """Checkpoints, catalog rows and the loss-curve artifact of one validation."""
        history.append(validation.row)
        meta_extra = {**extra, "history": history, "best_val_loss": validation.best}
        if validation.improved:
            save_checkpoint(best_path, weights, model_cfg, epoch=validation.step, metrics=validation.row,
                            extra=meta_extra)
        save_checkpoint(last_path, weights, model_cfg, optimizer=optimizer, epoch=validation.step,
                        metrics=validation.row, extra=meta_extra)
        _record(run_id, dataset, validation.row, validation.improved)
        create_table_artifact(key="controlnet-loss", table=history,
                              description=f"ControlNet on {dataset}: train / validation loss")
        logger.info("step %d: %s%s", validation.step, validation.row, " (best)" if validation.improved else "")

    def keep_sample(sample: Sample) -> None:
        """The demo clip as WAV and its envelope scores in a markdown artifact."""
        wav = out / "samples" / f"step-{sample.step:06d}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        write_wav(wav, sample.audio, net.sample_rate)
        scores = sample.scores
        samples.append({"step": sample.step, "wav": str(wav), "e_l1": round(scores["e_l1"], 5),
                        "correlation": round(scores["correlation"], 4), "onset_f1": round(scores["onset_f1"], 4)})
        create_markdown_artifact(key="controlnet-samples", markdown=_samples_markdown(samples, reference),
                                 description="Demo clips generated from a validation envelope")

    logger.info("training the ControlNet (%d blocks) on %d chunks of %s s, %d steps from %d, batch %d, device %s",
                net.controlnet.n_blocks, len(train), cfg.chunk_s, cfg.steps, start_step, cfg.batch_size, device)
    best = fit(net, train, val, cfg, optimizer=optimizer, device=device, start_step=start_step, best=best,
               on_validation=keep, on_sample=keep_sample)
    return {"run_id": run_id, "out_dir": str(out), "last_checkpoint": str(last_path),
            "best_checkpoint": str(best_path), "best_val_loss": best, "steps_run": cfg.steps - start_step,
            "history": history, "samples": samples, "n_train_chunks": len(train)}


def _record(run_id: str, dataset: str, row: dict, is_best: bool) -> None:
    append_rows(get_settings().catalog_dir, STEPS_TABLE, [{
        "run_id": run_id, "dataset": dataset, "step": row["step"], "train_loss": row["train_loss"],
        "val_loss": row["val_loss"], "is_best": is_best, "recorded_at": datetime.now(timezone.utc)}],
        f"{run_id}-{row['step']:07d}", schema=STEPS_SCHEMA)


def _samples_markdown(samples: list[dict], reference: SynthChunk) -> str:
    lines = [f"# ControlNet demo clips (envelope of `{reference.item_id}` at {reference.start_s:.1f} s)", "",
             "| step | E-L1 | correlation | onset F1 | audio |", "|---|---|---|---|---|"]
    lines += [f"| {s['step']} | {s['e_l1']} | {s['correlation']} | {s['onset_f1']} | `{s['wav']}` |" for s in samples]
    return "\n".join(lines) + "\n"
