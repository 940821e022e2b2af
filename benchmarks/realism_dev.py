"""Does the sound sound recorded? FAD-SFX, onsets and correlation on the development sets.

For every clip of greatest-hits-dev and foley-wild-dev (../shared/data), the
default envelope engine predicts the envelope from the video; each
configuration below renders audio from it, and all are compared with the
clips' real audio:

- ``real: halves of each recording``: the first half of every recording's audio against the
  second halves (what audio of the very same takes scores: the floor);
- ``real: other recordings``: every other recording against the rest (what real audio of
  *other* takes scores, with half as many clips per side: the floor for the sampler rows);
- ``pink noise -50 dBFS``: low-level pink noise as long as each clip (a ceiling);
- ``preview + text``: the earlier engine (gated grains), text prompt naming the material;
- ``foley + text``: the Foley engine, procedural material from the same text prompt;
- ``foley + other recording``: the sampler over one *other* recording of the same material
  (nearest in aiSFX embedding among those; never the clip's own audio);
- ``foley + library + text``: the sampler over a library of all other recordings, in
  material folders, steered by the text prompt.

FAD-SFX is the Fréchet distance between aiSFX embeddings (Ma & Lerch, ISMIR 2022)
of all generated clips and all real clips; "clip FAD" is the median of fadtk's
per-clip scores. Onset F1 (±0.1 s) and correlation compare each output's RMS
envelope with the real audio's, so realism is not bought with timing. Speed is
audio seconds rendered per second of synthesis (2 cores). A PNG of spectrograms
(real vs generated) is written for a few clips.

Usage::

    .venv/bin/python benchmarks/realism_dev.py [--sets greatest-hits-dev foley-wild-dev]
        [--limit N] [--png docs/realism/spectrograms.png] [--json OUT] [--cache DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from data_catalog.media import extract_audio, probe_video  # noqa: E402
from folai_models import foley, preview_synth  # noqa: E402
from folai_models.metrics import envelope_scores  # noqa: E402
from folai_models.rates import ENVELOPE_FRAME_RATE, OUTPUT_SAMPLE_RATE  # noqa: E402
from tasks.engines import create_envelope_engine_from_config  # noqa: E402
from tasks.media_tasks import reference_envelope  # noqa: E402

SHARED = REPO_ROOT.parent / "shared" / "data"
PINK_DBFS = -50.0  # the noise ceiling row: pink noise at this RMS
PROMPT_MAX_S = 60.0  # an audio prompt is the first minute of the other recording
MATERIAL_WORDS = {"rock": "rock", "tile": "tile", "dirt": "dirt", "leaf": "leaves"}  # label -> prompt word
ROWS = ("real: halves of each recording", "real: other recordings", "pink noise -50 dBFS", "preview + text", "foley + text",
        "foley + other recording", "foley + library + text")
SPECTROGRAM_ROWS = ("preview + text", "foley + text", "foley + other recording")


@dataclass
class Clip:
    set_name: str
    stem: str
    video: Path
    label: str  # the material (greatest hits) or kind (foley-wild) other recordings are matched on
    prompt: str
    audio: np.ndarray = field(repr=False, default=None)  # real audio, mono 44.1 kHz
    envelope: np.ndarray = field(repr=False, default=None)
    reference: np.ndarray = field(repr=False, default=None)  # the real audio's envelope
    embedding: np.ndarray = field(repr=False, default=None)  # aiSFX blocks of the real audio


def load_clips(set_name: str, limit: int | None) -> list[Clip]:
    root = SHARED / set_name
    rows = list(csv.DictReader(open(root / "labels.csv")))
    clips = []
    for row in rows[:limit]:
        if "material" in row:  # greatest hits: "A person {action} on {material} with a wooden stick"
            material = MATERIAL_WORDS.get(row["material"], row["material"])
            action = "scratches" if row["action"] == "scratch" else "hits"
            clips.append(Clip(set_name, row["video"], root / "videos" / f"{row['video']}.mp4", row["material"],
                              f"A person {action} on {material} with a wooden stick"))
        else:
            stem = Path(row["file"]).stem
            clips.append(Clip(set_name, stem, root / "videos" / row["file"], row["kind"], row["what"]))
    return clips


def prepare(clip: Clip, cache: Path, engine, embedder) -> None:
    """Real audio, its envelope and embedding, and the predicted envelope (cached on disk)."""
    info = probe_video(clip.video)
    env_path = cache / f"{clip.stem}.{engine.name}.envelope.npy"
    if not env_path.is_file():
        envelope, _ = engine.predict(info)
        np.save(env_path, np.asarray(envelope, np.float32))
    clip.envelope = np.load(env_path)
    clip.audio = extract_audio(clip.video, sample_rate=OUTPUT_SAMPLE_RATE, n_channels=1)[0]
    clip.reference, _ = reference_envelope(str(clip.video), clip.envelope.size)
    emb_path = cache / f"{clip.stem}.real.aisfx.npy"
    if not emb_path.is_file():
        np.save(emb_path, embedder.embed(clip.audio, OUTPUT_SAMPLE_RATE))
    clip.embedding = np.load(emb_path)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
    x = np.fft.irfft(spectrum, n)
    return (x / np.sqrt(np.mean(np.square(x))) * 10 ** (PINK_DBFS / 20)).astype(np.float32)


def other_recording(clip: Clip, clips: list[Clip], banks: dict) -> Clip:
    """The other recording of the same label nearest in mean aiSFX embedding (any label if none),
    among those with one-shots to sample."""
    usable = [c for c in clips if c is not clip and len(banks[c.stem])]
    others = [c for c in usable if c.label == clip.label] or usable
    centre = clip.embedding.mean(axis=0)
    return min(others, key=lambda c: float(np.linalg.norm(c.embedding.mean(axis=0) - centre)))


def render(row: str, clip: Clip, clips: list[Clip], banks: dict, seed: int = 0) -> np.ndarray:
    n = int(round(clip.envelope.size / ENVELOPE_FRAME_RATE * OUTPUT_SAMPLE_RATE))
    rng = np.random.default_rng([seed, 1])
    if row == "preview + text":
        return preview_synth.render_from_envelope(clip.envelope, ENVELOPE_FRAME_RATE, prompt=clip.prompt, seed=seed)
    if row == "foley + text":
        source = foley.ProceduralSource(foley_material(clip.prompt), OUTPUT_SAMPLE_RATE, rng,
                                        footsteps=foley.wants_footsteps(clip.prompt))
    elif row == "foley + other recording":
        source = foley.SamplerSource(banks[other_recording(clip, clips, banks).stem], OUTPUT_SAMPLE_RATE, None, rng)
    elif row == "foley + library + text":
        library = foley.merge_banks([banks[c.stem] for c in clips if c is not clip])
        source = foley.SamplerSource(library, OUTPUT_SAMPLE_RATE, clip.prompt, rng)
    else:
        raise ValueError(row)
    blocks, _ = foley.render_foley(clip.envelope, ENVELOPE_FRAME_RATE, OUTPUT_SAMPLE_RATE, n, source, seed=seed)
    return np.concatenate(list(blocks), axis=1)


def foley_material(prompt: str) -> str:
    from folai_models.materials import material_from_prompt

    return material_from_prompt(prompt)


def bank_of(clip: Clip) -> foley.SoundBank:
    """The clip's own recording as a sampler bank, one-shots named ``label/stem`` (a library's folders)."""
    audio = clip.audio[: int(PROMPT_MAX_S * OUTPUT_SAMPLE_RATE)]
    return foley.analyse_recording(audio, OUTPUT_SAMPLE_RATE, f"{clip.label}/{clip.stem}")


def clip_median(fad, reference: list, generated: dict) -> float:
    """Median per-clip FAD-SFX over the clips long enough for one (two aiSFX blocks, ~3.5 s)."""
    scorable = {k: v for k, v in generated.items() if len(v) >= 2}
    return float(np.median(list(fad.per_clip_fad_sfx(reference, scorable).values()))) if scorable else float("nan")


def evaluate(set_name: str, clips: list[Clip], embedder, fad) -> tuple[list[dict], dict]:
    reference = [c.embedding for c in clips]
    banks = {c.stem: bank_of(c) for c in clips}
    results, outputs = [], {}
    for row in ROWS:
        generated, scores, render_s, audio_s = {}, [], 0.0, 0.0
        for i, clip in enumerate(clips):
            if row.startswith("real"):
                continue
            if row.startswith("pink"):
                y = pink_noise(clip.audio.size, np.random.default_rng(i))
            else:
                t0 = time.perf_counter()
                y = render(row, clip, clips, banks)
                render_s += time.perf_counter() - t0
                audio_s += y.shape[-1] / OUTPUT_SAMPLE_RATE
                outputs[(row, clip.stem)] = y
            mono = y if y.ndim == 1 else y.mean(axis=0)
            generated[clip.stem] = embedder.embed(mono, OUTPUT_SAMPLE_RATE)
            out_env = preview_synth.envelope_rms(mono, OUTPUT_SAMPLE_RATE, ENVELOPE_FRAME_RATE, clip.envelope.size)
            scores.append(envelope_scores(clip.reference, out_env, ENVELOPE_FRAME_RATE))
        if row == "real: halves of each recording":
            halves = [(c, e[: len(e) // 2], e[len(e) // 2 :]) for c, e in zip(clips, reference) if len(e) >= 2]
            a, b = [h[1] for h in halves], [h[2] for h in halves]
            value = fad.fad_sfx(a, b)
            clip_fad = clip_median(fad, a, {c.stem: e for c, _, e in halves})
        elif row == "real: other recordings":
            a, b = reference[0::2], reference[1::2]
            value, clip_fad = fad.fad_sfx(a, b), clip_median(fad, a, {c.stem: c.embedding for c in clips[1::2]})
        else:
            value = fad.fad_sfx(reference, list(generated.values()))
            clip_fad = clip_median(fad, reference, generated)
        result = {"set": set_name, "row": row, "fad_sfx": value, "clip_fad_median": clip_fad}
        if scores:
            for key in ("onset_f1", "correlation"):
                values = [s[key] for s in scores if s.get(key) is not None and np.isfinite(s[key])]
                result[key] = float(np.mean(values)) if values else None
        if render_s:
            result["x_real_time"] = audio_s / render_s
        results.append(result)
        print(f"  {row:32s} FAD-SFX {value:7.2f}  clip FAD {clip_fad:7.2f}  "
              f"F1 {result.get('onset_f1', float('nan')):.3f}  corr {result.get('correlation', float('nan')):.3f}"
              + (f"  {result['x_real_time']:.0f}x real time" if render_s else ""), flush=True)
    return results, outputs


def speed_10s(clips: list[Clip], banks_from: Clip, repeats: int = 3) -> dict:
    """Foley synthesis speed on 10 s envelopes (x real time), procedural and sampler."""
    envelopes = [c.envelope[: int(10 * ENVELOPE_FRAME_RATE)] for c in clips if c.envelope.size >= 10 * ENVELOPE_FRAME_RATE]
    bank = bank_of(banks_from)
    out = {}
    for name in ("procedural", "sampler"):
        t0, total = time.perf_counter(), 0.0
        for k in range(repeats):
            for env in envelopes:
                rng = np.random.default_rng(k)
                source = (foley.ProceduralSource("wood", OUTPUT_SAMPLE_RATE, rng) if name == "procedural"
                          else foley.SamplerSource(bank, OUTPUT_SAMPLE_RATE, None, rng))
                n = int(10 * OUTPUT_SAMPLE_RATE)
                blocks, _ = foley.render_foley(env, ENVELOPE_FRAME_RATE, OUTPUT_SAMPLE_RATE, n, source, seed=k)
                for _ in blocks:
                    pass
                total += 10.0
        out[name] = total / (time.perf_counter() - t0)
    return out


def spectrogram_png(path: Path, picks: list[tuple[Clip, dict]], seconds: float = 8.0) -> None:
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ("real", *SPECTROGRAM_ROWS)
    fig, axes = plt.subplots(len(rows), len(picks), figsize=(5.2 * len(picks), 2.3 * len(rows)), squeeze=False)
    n = int(seconds * OUTPUT_SAMPLE_RATE)
    for j, (clip, outputs) in enumerate(picks):
        for i, row in enumerate(rows):
            y = clip.audio if row == "real" else outputs[(row, clip.stem)]
            y = (y if y.ndim == 1 else y.mean(axis=0))[:n].astype(np.float32)
            spec = librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=2048, hop_length=512)) + 1e-10, ref=1.0)
            ax = axes[i, j]
            ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=-100, vmax=-10,
                      extent=(0, y.size / OUTPUT_SAMPLE_RATE, 0, OUTPUT_SAMPLE_RATE / 2000))
            ax.set_title(f"{clip.stem[:24]}: {row}", fontsize=8)
            ax.set_ylabel("kHz", fontsize=7)
            ax.tick_params(labelsize=6)
    axes[-1, 0].set_xlabel("s")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["greatest-hits-dev", "foley-wild-dev"])
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips of each set")
    parser.add_argument("--png", type=Path, default=REPO_ROOT / "docs" / "realism" / "spectrograms.png")
    parser.add_argument("--json", type=Path, default=None, help="write the table here")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "sonorize" / "bench-realism",
                        help="predicted envelopes and real-audio embeddings are kept here")
    parser.add_argument("--envelope-engine", default="auto")
    args = parser.parse_args(argv)
    for name in args.sets:
        if not (SHARED / name / "labels.csv").is_file():
            print(f"skipped: {SHARED / name} not found (development data lives beside the repository)")
            return 0
    from folai_models import realism as fad
    from tasks.realism_tasks import load_aisfx

    embedder = load_aisfx(device="cpu")
    engine = create_envelope_engine_from_config(args.envelope_engine)
    args.cache.mkdir(parents=True, exist_ok=True)
    table, picks = [], []
    for name in args.sets:
        clips = load_clips(name, args.limit)
        print(f"{name}: {len(clips)} clips, envelopes from '{engine.name}'", flush=True)
        for clip in clips:
            prepare(clip, args.cache, engine, embedder)
        results, outputs = evaluate(name, clips, embedder, fad)
        table += results
        if name == args.sets[0]:
            speed = speed_10s(clips, clips[0])
            print(f"  foley synthesis on 10 s clips: procedural {speed['procedural']:.0f}x, "
                  f"sampler {speed['sampler']:.0f}x real time", flush=True)
            table.append({"set": name, "row": "speed on 10 s clips (x real time)", **speed})
        by_label = {}
        for clip in clips:
            by_label.setdefault(clip.label, clip)
        picks += [(c, outputs) for c in list(by_label.values())[:2]]
    spectrogram_png(args.png, picks[:4])
    print(f"spectrograms: {args.png}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
