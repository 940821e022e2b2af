"""Every metric of a set of generated files against references: FAD-SFX, the papers' metrics
(FAD-P, FAD-C, FAD-LC, CLAP score, FAVD) and, for generated files paired with a reference, the
envelope metrics (E-L1, Acc@k, onset F1, correlation; spec item 14).

A metric that cannot run says why (``"skipped: ..."``) in place of its value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from data_catalog.errors import SonorizeError, SonorizeInputError
from data_catalog.model_store import ModelStore
from tasks import paper_metric_tasks as pm

ENVELOPE_METRICS = ("e_l1", "acc@1", "acc@5", "acc@10", "onset_f1", "correlation")
METRIC_ORDER = ("fad_sfx", *pm.PAPER_METRICS, *ENVELOPE_METRICS)
LOWER_IS_BETTER = {"fad_sfx", "fad_p", "fad_c", "fad_lc", "favd", "e_l1"}
GENERATED_SUFFIXES = (".foley",)  # our outputs: NAME.foley.wav / NAME.foley.mp4 pair with NAME.*


def pair_key(path: str) -> str:
    """The name a generated file is paired with its reference by: its stem, less ``.foley``."""
    stem = Path(path).stem
    for suffix in GENERATED_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem


def pair_files(generated: Iterable[str], reference: Iterable[str]) -> dict[str, str]:
    """generated path -> reference path of the same :func:`pair_key` (names unique among references)."""
    by_key: dict[str, str] = {}
    for ref in reference:
        by_key.setdefault(pair_key(ref), ref)
    return {g: by_key[pair_key(g)] for g in generated if pair_key(g) in by_key}


def _fad_sfx(gen_files, ref_files) -> tuple[float | str, dict]:
    from data_catalog.model_store.packaged_weights import AISFX_INSTALL, PackagedWeightsMissing
    from folai_models.realism import fad_sfx
    from tasks.realism_tasks import embed_file_task

    try:
        gen = {p: embed_file_task(p) for p in gen_files}
        ref = {p: embed_file_task(p) for p in ref_files}
    except PackagedWeightsMissing:
        return f"skipped: weights for aisfx missing ({AISFX_INSTALL})", {}
    except ImportError as error:
        return f"skipped: {error}", {}
    try:
        return fad_sfx(list(ref.values()), list(gen.values())), gen
    except ValueError as error:
        return f"skipped: {error}", gen


def _envelopes(pairs: dict[str, str]) -> dict[str, float | str]:
    from folai_models.envelope import envelope_frame_rate
    from folai_models.metrics import envelope_scores
    from tasks.media_tasks import audio_envelope, reference_envelope

    if not pairs:
        return {m: "skipped: no generated file has a reference of the same name" for m in ENVELOPE_METRICS}
    per_clip = []
    for gen, ref in pairs.items():
        reference = audio_envelope(ref)
        estimate, _ = reference_envelope(gen, len(reference))
        per_clip.append(envelope_scores(reference, estimate, envelope_frame_rate()))
    out: dict[str, float | str] = {}
    for metric in ENVELOPE_METRICS:
        values = [c[metric] for c in per_clip if not math.isnan(c[metric])]
        out[metric] = float(np.mean(values)) if values else "skipped: undefined on every clip"
    return out


def score_sets(generated: list[str], reference: list[str], *, store: ModelStore | None = None,
               device: str = "cpu", logger=None, fad_sfx_value: float | str | None = None) -> dict:
    """All metrics of ``generated`` against ``reference`` (files, already collected).

    ``fad_sfx_value``: FAD-SFX when the caller computed it already (else it is computed here).
    A file that cannot be decoded for a metric is left out of that metric (with a warning).

    Returns
    -------
    ``{"metrics": {name: value or "skipped: reason"}, "pairs": n, "fad_sfx_embeddings": {path: array}}``
    """
    from tasks.paper_metric_tasks import file_features_task

    if not generated or not reference:
        raise SonorizeInputError(None, "nothing to score: no generated or no reference files")
    store = store or ModelStore()
    pairs = pair_files(generated, reference)
    metrics: dict[str, float | str] = {}
    if fad_sfx_value is None:
        metrics["fad_sfx"], sfx_embeddings = _fad_sfx(generated, reference)
    else:
        metrics["fad_sfx"], sfx_embeddings = fad_sfx_value, {}
    skipped = pm.metric_skip_reasons(store)
    models = tuple(sorted({m for metric, ms in pm.METRIC_MODELS.items() if metric not in skipped for m in ms}))
    features = {}
    if models:
        for path in [*generated, *reference]:
            try:
                features[path] = file_features_task(path, models, device)
            except SonorizeError as error:
                if logger:
                    logger.warning("left out of the papers' metrics: %s", error)
    gen_features = {p: features[p] for p in generated if p in features}
    ref_features = {p: features[p] for p in reference if p in features}
    metrics.update(pm.paper_metrics(ref_features, gen_features, pairs, skipped))
    metrics.update(_envelopes(pairs))
    return {"metrics": {m: metrics[m] for m in METRIC_ORDER}, "pairs": len(pairs),
            "fad_sfx_embeddings": sfx_embeddings}


def is_value(result) -> bool:
    return isinstance(result, (int, float)) and not isinstance(result, bool) and math.isfinite(result)


def metric_table(metrics: dict[str, float | str]) -> list[dict]:
    """Rows ``{"metric", "value", "better", "note"}`` for an artifact (skipped metrics keep their reason)."""
    return [{"metric": m, "value": round(v, 4) if is_value(v) else None,
             "better": "lower" if m in LOWER_IS_BETTER else "higher",
             "note": "" if is_value(v) else str(v)} for m, v in metrics.items()]
