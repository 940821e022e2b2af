"""The ``evaluate`` flow: how real does a folder of generated sound sound? Every metric against references.

Any system's outputs (ours or another's, audio or video files) against a
folder of real recordings: FAD-SFX over the whole set (fadtk's Fréchet
distance on aiSFX embeddings) and each generated file's own score (fadtk's
individual mode), worst first, so a user sees which outputs sound least real;
then the papers' metrics (FAD-P, FAD-C, FAD-LC, CLAP score, FAVD) and, for
generated files named like a reference (``take3.wav`` or ``take3.foley.wav``
beside ``take3.mp4``), the envelope metrics (E-L1, Acc@k, onset F1,
correlation). A metric whose weights are absent is reported as skipped, with
the command that fetches them.
"""

from __future__ import annotations

import csv
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from data_catalog.atomic import atomic_path
from data_catalog.errors import SonorizeInputError
from flows.inputs import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, collect_videos
from flows.per_item import for_each_item
from flows.progress import BatchProgress
from tasks.metric_suite import is_value, metric_table, score_sets
from tasks.realism_tasks import embed_file_task

MIN_BLOCKS_PER_CLIP = 2  # a per-clip score needs two aiSFX blocks (~3.5 s of audio)


def _embed_all(files: list[str], label: str, progress: BatchProgress, logger) -> tuple[dict, list]:
    def work(path: str, stage) -> dict:
        stage(f"embedding ({label})")
        return {"path": path, "status": "ok", "embedding": embed_file_task(path)}

    def failed(path: str, reason: str) -> dict:
        logger.warning("skipped: %s", reason)
        return {"path": path, "status": "failed", "error": reason}

    results = for_each_item(files, work, failed, label=str, progress=progress, logger=logger)
    return ({r["path"]: r["embedding"] for r in results if r["status"] == "ok"},
            [{"path": r["path"], "error": r["error"]} for r in results if r["status"] == "failed"])


@flow(name="evaluate", log_prints=True)
def evaluate(generated: list[str], reference: list[str], csv_path: str | None = None,
             show_progress: bool = False) -> dict:
    """FAD-SFX of ``generated`` against ``reference`` and a per-file score, worst first.

    Parameters
    ----------
    generated, reference : audio or video files, or folders of them (searched recursively).
    csv_path : where to write the per-file scores (``file,fad_sfx,blocks``); None: no file.
    show_progress : draw a progress bar (the command line sets it).

    Returns
    -------
    ``{"fad_sfx", "n_generated", "n_reference", "clips": [{"path", "fad_sfx", "blocks"}], "failed": [...]}``;
    files too short for their own score (under ~3.5 s) have ``fad_sfx`` None.
    """
    from folai_models.realism import fad_sfx, per_clip_fad_sfx

    logger = get_run_logger()
    kinds = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS
    gen_files, ref_files = collect_videos(generated, kinds), collect_videos(reference, kinds)
    for files, what in ((gen_files, "generated"), (ref_files, "reference")):
        if not files:
            raise SonorizeInputError(None, f"no audio or video files among the {what} paths: {' '.join(generated if what == 'generated' else reference)}")
    with BatchProgress(len(gen_files) + len(ref_files), enabled=show_progress) as progress:
        gen, gen_failed = _embed_all(gen_files, "generated", progress, logger)
        ref, ref_failed = _embed_all(ref_files, "reference", progress, logger)
    if not gen or not ref:
        raise SonorizeInputError(None, "nothing to compare: every generated or every reference file failed")
    value = fad_sfx(list(ref.values()), list(gen.values()))
    scorable = {p: e for p, e in gen.items() if len(e) >= MIN_BLOCKS_PER_CLIP}
    per_clip = per_clip_fad_sfx(list(ref.values()), scorable) if scorable else {}
    clips = [{"path": p, "fad_sfx": per_clip.get(p), "blocks": len(e)} for p, e in gen.items()]
    clips.sort(key=lambda c: -1.0 if c["fad_sfx"] is None else c["fad_sfx"], reverse=True)
    if csv_path:
        with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["path", "fad_sfx", "blocks"])
            writer.writeheader()
            writer.writerows(clips)
    create_table_artifact(key="fad-sfx", table=[{**c, "path": Path(c["path"]).name} for c in clips],
                          description=f"FAD-SFX {value:.2f}: {len(gen)} generated vs {len(ref)} reference files")
    suite = score_sets(list(gen), list(ref), fad_sfx_value=value, logger=logger)
    create_table_artifact(key="evaluate-metrics", table=metric_table(suite["metrics"]),
                          description=f"every metric: {len(gen)} generated vs {len(ref)} reference files, "
                                      f"{suite['pairs']} pairs by name")
    for name, result in suite["metrics"].items():
        logger.info("%s: %s", name, f"{result:.4f}" if is_value(result) else result)
    return {"fad_sfx": value, "n_generated": len(gen), "n_reference": len(ref), "clips": clips,
            "failed": gen_failed + ref_failed, "csv": csv_path, "metrics": suite["metrics"], "pairs": suite["pairs"]}


__all__ = ["evaluate"]
