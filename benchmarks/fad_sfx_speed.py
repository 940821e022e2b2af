"""FAD-SFX on the Greatest Hits development recordings: embedding speed and reference distances.

Embeds the real audio of every recording with aiSFX (the published weights from the
installed ``aisfx`` wheel), then prints the time, FAD-SFX of one half of the
recordings against the other half (the floor of real-vs-real), against white noise
(a ceiling), and the per-clip scores of the second half.

Usage::

    .venv/bin/python benchmarks/fad_sfx_speed.py [--data DIR] [--threads 2] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from data_catalog.media.audio import extract_audio  # noqa: E402
from folai_models.realism import fad_sfx, per_clip_fad_sfx  # noqa: E402
from folai_models.rates import AISFX_SAMPLE_RATE  # noqa: E402
from tasks.realism_tasks import load_aisfx  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "greatest-hits-dev"
NOISE_CLIPS, NOISE_SECONDS, NOISE_RMS = 8, 30, 0.01  # the white-noise ceiling row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="first N recordings only")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    videos = sorted((args.data / "videos").glob("*.mp4"))[: args.limit]
    if len(videos) < 4:
        sys.exit(f"{args.data}: needs at least 4 recordings in videos/, found {len(videos)}")
    clips = {v.name: extract_audio(v, sample_rate=AISFX_SAMPLE_RATE)[0] for v in videos}
    minutes = sum(a.size for a in clips.values()) / AISFX_SAMPLE_RATE / 60

    embedder = load_aisfx()
    wall, cpu = time.perf_counter(), time.process_time()
    embeddings = {name: embedder.embed(audio, AISFX_SAMPLE_RATE) for name, audio in clips.items()}
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    blocks = sum(len(e) for e in embeddings.values())
    print(f"embedded {minutes:.1f} min of audio ({blocks} blocks) with {args.threads} threads: "
          f"wall {wall:.1f} s, CPU {cpu:.1f} s")

    names = sorted(embeddings)
    first, second = [embeddings[n] for n in names[::2]], {n: embeddings[n] for n in names[1::2]}
    rng = np.random.default_rng(0)
    noise = [embedder.embed((NOISE_RMS * rng.standard_normal(NOISE_SECONDS * AISFX_SAMPLE_RATE)).astype(np.float32),
                            AISFX_SAMPLE_RATE) for _ in range(NOISE_CLIPS)]
    start = time.perf_counter()
    print(f"FAD-SFX real half vs real half: {fad_sfx(first, list(second.values())):.1f} "
          f"({time.perf_counter() - start:.1f} s)")
    print(f"FAD-SFX real half vs white noise: {fad_sfx(first, noise):.1f}")
    start = time.perf_counter()
    scores = per_clip_fad_sfx(first, second)
    print(f"per-clip FAD-SFX of {len(scores)} clips ({time.perf_counter() - start:.2f} s), worst first:")
    for name, score in scores.items():
        print(f"  {score:8.1f}  {name}")


if __name__ == "__main__":
    main()
