"""fadtk's own self-test for our offline loaders, on a machine whose model store holds the weights.

    sonorize models pull msclap-2023 laion-clap roberta-base bert-base-uncased bart-base
    .venv/bin/python benchmarks/fadtk_selftest.py [--tolerance 0.02]

fadtk ships ten music samples (``fadtk/test/samples``), the FMA-pop reference statistics of its
'clap-2023' and 'clap-laion-audio' embeddings (``fadtk/stats/fma_pop.npz``) and the FAD each sample
set scored with fadtk's own (downloading) loaders (``samples_FAD_scores.csv``). Our loaders carry the
same names and read the same published weights from the model store: through fadtk's
``FrechetAudioDistance`` they must reproduce those scores (FAD-C: 393.81, FAD-LC: 0.4634 for the whole
set) within ``--tolerance`` (relative). PANNs has no reference in fadtk 1.1.0. Exit status 1 on a miss;
a metric whose weights are absent is reported as skipped.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from pathlib import Path

REFERENCE_COLUMNS = {"fad_c": "FAD_clap_2023_fma_pop", "fad_lc": "FAD_clap_laion_audio_fma_pop"}
MODELS = {"fad_c": "msclap", "fad_lc": "laion_clap"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from folai_models.paper_metrics.fadtk_loaders import fad_loader
    from folai_models.realism.fad import import_fadtk
    from tasks import paper_metric_tasks as pm

    fadtk_fad = import_fadtk()
    test_dir = Path(fadtk_fad.__file__).parent / "test"
    with open(test_dir / "samples_FAD_scores.csv", newline="") as handle:
        expected_all = next(r for r in csv.DictReader(handle) if r["song_id"] == "samples/all")
    skipped = pm.metric_skip_reasons()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp) / "samples"  # fadtk writes its conversions and embeddings beside the audio
        shutil.copytree(test_dir / "samples", samples)
        for metric, model in MODELS.items():
            if metric in skipped:
                print(f"{metric}: {skipped[metric]}")
                continue
            loader = fad_loader(metric, lambda model=model: pm.load_embedder(model, device=args.device))
            fad = fadtk_fad.FrechetAudioDistance(loader, audio_load_worker=1, load_model=True)
            for path in sorted(samples.glob("*.opus")):
                fad.cache_embedding_file(path)
            got = fad.score("fma_pop", samples)
            want = float(expected_all[REFERENCE_COLUMNS[metric]])
            ok = abs(got - want) <= args.tolerance * abs(want)
            failures += not ok
            print(f"{metric} ({loader.name}): {got:.4f}, fadtk's reference {want:.4f}: {'ok' if ok else 'MISMATCH'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
