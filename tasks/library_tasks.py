"""The sound library: a file or folder of recordings turned into a sampler bank, cached by content."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from data_catalog.errors import SonorizeError, SonorizeInputError, WeightsError
from data_catalog.hashing import sha256_file
from data_catalog.media import extract_audio
from data_catalog.media.file_types import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS
from data_catalog.sound_banks import read_bank_rows, write_bank_rows
from folai_models.foley import BANK_VERSION, SoundBank, analyse_recording, merge_banks
from folai_models.rates import OUTPUT_SAMPLE_RATE
from tasks._options import pipeline_task

LIBRARY_EXTENSIONS = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS  # a video's own sound is a recording too
LIBRARY_FILE_MAX_S = 300.0  # only the first 5 minutes of a long field recording are cut
LIBRARY_MAX_FILES = 5000  # a folder with more is probably not a sound library

log = logging.getLogger(__name__)


def library_files(path: str | os.PathLike) -> tuple[Path, list[Path]]:
    """The root and the audio files of a library (a file, or a folder searched recursively)."""
    root = Path(path)
    if root.is_file():
        return root.parent, [root]
    if not root.is_dir():
        raise SonorizeInputError(root, "audio prompt not found (give an audio file or a folder of them)")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in LIBRARY_EXTENSIONS
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise SonorizeInputError(root, "the sound library folder holds no audio files "
                                       f"({', '.join(sorted(AUDIO_EXTENSIONS)[:8])}, ...)")
    if len(files) > LIBRARY_MAX_FILES:
        raise SonorizeInputError(root, f"{len(files)} audio files: more than {LIBRARY_MAX_FILES}; "
                                       "point --audio-prompt at a sub-folder")
    return root, files


def library_fingerprint(path: str | os.PathLike) -> str:
    """Cheap identity of a library for run fingerprints: names, sizes and times of its files."""
    from data_catalog.hashing import fingerprint

    root, files = library_files(path)
    if len(files) == 1 and Path(path).is_file():
        return sha256_file(files[0])
    return fingerprint([(str(f.relative_to(root)), f.stat().st_size, f.stat().st_mtime_ns) for f in files])


def _to_rows(bank: SoundBank) -> tuple[list[dict], dict]:
    rows = [{"kind": "one_shot", "audio": a, "level_db": float(lv), "brightness_hz": float(b),
             "embedding": None if bank.embeddings is None else bank.embeddings[i]}
            for i, (a, lv, b) in enumerate(zip(bank.one_shots, bank.level_db, bank.brightness_hz))]
    rows += [{"kind": "sustained", "audio": a} for a in bank.sustained]
    rows += [{"kind": "room_tone", "audio": a} for a in bank.room_tone]
    return rows, {"room_tone_db": bank.room_tone_db.tolist(), "skipped": bank.skipped,
                  "sample_rate": bank.sample_rate}


def _from_rows(rows: list[dict], meta: dict, name: str) -> SoundBank:
    shots = [r for r in rows if r["kind"] == "one_shot"]
    embeddings = [r.get("embedding") for r in shots]
    return SoundBank(
        sample_rate=int(meta["sample_rate"]), one_shots=[r["audio"] for r in shots],
        level_db=np.array([r["level_db"] for r in shots]), brightness_hz=np.array([r["brightness_hz"] for r in shots]),
        names=[name] * len(shots),
        embeddings=np.stack(embeddings) if shots and all(e is not None for e in embeddings) else None,
        sustained=[r["audio"] for r in rows if r["kind"] == "sustained"],
        room_tone=[r["audio"] for r in rows if r["kind"] == "room_tone"],
        room_tone_db=np.asarray(meta.get("room_tone_db", []), np.float64), skipped=list(meta.get("skipped", [])))


def _embedder():
    """The aiSFX sound embedding, when installed (one-shots are then also chosen by sound)."""
    try:
        from tasks.realism_tasks import load_aisfx

        return load_aisfx(device="cpu")
    except ImportError as exc:  # the base install (no PyTorch): embeddings are optional
        log.info("sound library: no aiSFX embeddings (%s); one-shots are chosen by level and names only", exc)
    except WeightsError as exc:  # the aisfx wheel missing, or its checkpoint refused
        log.warning("sound library: no aiSFX embeddings (%s); one-shots are chosen by level and names only", exc)
    return None


def _embed(bank: SoundBank, embedder) -> None:
    """Each one-shot's mean aiSFX embedding, all one-shots of a file in one batch."""
    if embedder is None or not len(bank):
        return
    blocks = [embedder.blocks(shot, bank.sample_rate) for shot in bank.one_shots]
    rows = embedder.embed_blocks(np.concatenate(blocks))
    ends = np.cumsum([len(b) for b in blocks])
    bank.embeddings = np.stack([part.mean(axis=0) for part in np.split(rows, ends[:-1])])


def _file_bank(path: Path, root: Path, sample_rate: int, embedder_factory) -> SoundBank:
    name = str(path.relative_to(root)) if path != root else path.name
    key = f"{sha256_file(path)}-v{BANK_VERSION}-{sample_rate}"
    cached = read_bank_rows(key)
    if cached is not None:
        return _from_rows(*cached, name)
    audio = extract_audio(path, sample_rate=sample_rate, n_channels=1, max_duration_s=LIBRARY_FILE_MAX_S)[0]
    bank = analyse_recording(audio, sample_rate, name)
    _embed(bank, embedder_factory())
    write_bank_rows(key, *_to_rows(bank))
    return bank


@pipeline_task(name="sound-bank", tags=("synth",))
def sound_bank_task(path: str, sample_rate: int = OUTPUT_SAMPLE_RATE) -> SoundBank:
    """Cut a sound library (an audio file or a folder of them) into a sampler bank.

    Each file's analysis is cached in the data catalog by its content, so a
    library is analysed once. Files that cannot be decoded or hold nothing
    usable are skipped with a warning naming them; a library with nothing
    usable at all is an error naming the folder.
    """
    root, files = library_files(path)
    embedder: list = []

    def embedder_factory():  # loaded once, and only when a file is not cached yet
        if not embedder:
            embedder.append(_embedder())
        return embedder[0]

    banks, problems = [], []
    for f in files:
        try:
            bank = _file_bank(f, root, sample_rate, embedder_factory)
        except SonorizeError as exc:
            problems.append(f"{f}: {exc.reason}")
            continue
        if len(bank) == 0:
            problems.extend(f"{f}: {reason.split(': ', 1)[-1]}" for reason in bank.skipped or ["nothing usable"])
        banks.append(bank)
    for problem in problems:
        log.warning("sound library: skipped %s", problem)
    usable = [b for b in banks if len(b)]
    if not usable:
        detail = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise SonorizeInputError(path, f"no usable one-shots in {len(files)} audio file(s) ({detail})")
    merged = merge_banks(banks)
    merged.skipped = problems
    return merged
