"""A seeded corpus of hostile inputs, and an audit of what a run left behind (issue 16).

``make_media_corpus`` writes broken, odd and hostile media into one folder
(truncations at random offsets of MP4/MKV/WebM/AVI, header and mid-file byte
flips, zero bytes, text and images named ``.mp4``, audio only, tiny and large
frames, extreme and variable frame rates, rotation, large start timestamps,
hostile names, FIFOs, link loops, colliding stems); ``make_envelope_corpus``
writes malformed envelope files for one video. ``audit_run`` counts what a
batch left: clear errors, internal errors, partial or leftover files, and
outputs that another video overwrote. ``benchmarks/fuzz_inputs.py`` runs the
full corpus; ``tests/test_fuzz_slice.py`` a small seeded slice.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from media_factory import ffmpeg

CONTAINERS = {  # name: (suffix, codec arguments): the bases that get truncated and flipped
    "mp4": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    "mkv": (".mkv", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "flac"]),
    "webm": (".webm", ["-c:v", "libvpx", "-b:v", "200k", "-c:a", "libopus"]),
    "avi": (".avi", ["-c:v", "mpeg4", "-c:a", "mp3"]),
}
BASE_SECONDS = 1.0
BASE_SIZE = "64x48"
HOSTILE_NAMES = [
    "-y.mp4", "-i.mp4", "pipe:1.mp4", "concat:a.mp4|b.mp4", "...mp4", "..mp4", "ü☂ 名前.mp4", "new\nline.mp4",
    "tab\tname.mp4", "trailing space .mp4", "back\\slash.mp4", "quote'\"name.mp4", "$(touch pwned).mp4",
    "star*.mp4", "%s%n%x.mp4", "n" * 240 + ".mp4",
]


@dataclass
class Corpus:
    """The files made and what kind each is (``kinds[name]``); ``valid``: names that must succeed."""

    root: Path
    kinds: dict[str, str] = field(default_factory=dict)
    valid: set[str] = field(default_factory=set)

    def add(self, path: Path, kind: str, valid: bool = False) -> Path:
        name = str(path.relative_to(self.root))
        self.kinds[name] = kind
        if valid:
            self.valid.add(name)
        return path


def _clip(path: Path, *, seconds: float = BASE_SECONDS, size: str = BASE_SIZE, rate: str = "30",
          codec: list[str] | None = None, audio: bool = True, extra: tuple[str, ...] = ()) -> Path:
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-shortest"]
    ffmpeg(*args, *(codec or CONTAINERS["mp4"][1]), *extra, str(path))
    return path


def make_bases(folder: Path) -> dict[str, bytes]:
    """A valid small clip per container (the bytes later cut and flipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    return {name: _clip(folder / f"base{suffix}", codec=codec).read_bytes()
            for name, (suffix, codec) in CONTAINERS.items()}


def make_media_corpus(root: Path, seed: int = 0, scale: float = 1.0) -> Corpus:
    """Write the hostile media corpus into ``root``; ``scale`` < 1 makes a smaller slice.

    At ``scale`` 1 it holds about 155 files: 80 truncations, 30 byte flips, and
    one or a few of every other kind.
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(root)

    def pick(items: list, least: int = 1) -> list:  # a slice keeps a sample of each kind
        return items if scale >= 1 else rng.sample(items, max(least, round(len(items) * scale)))

    bases = make_bases(root.parent / f"{root.name}-bases")
    n_cuts, n_flips = max(1, round(20 * scale)), max(1, round(15 * scale))

    for name, data in bases.items():  # truncations at random offsets
        suffix = CONTAINERS[name][0]
        for i in range(n_cuts):
            cut = rng.randrange(1, len(data))
            (root / f"cut-{name}-{i}{suffix}").write_bytes(data[:cut])
            corpus.add(root / f"cut-{name}-{i}{suffix}", f"truncated {name}")
    for i in range(2 * n_flips):  # byte flips in the header or in the middle
        name = rng.choice(sorted(bases))
        data = bytearray(bases[name])
        where = "header" if i % 2 == 0 else "mid-file"
        span = range(0, min(512, len(data))) if where == "header" else range(len(data) // 4, 3 * len(data) // 4)
        for _ in range(rng.randint(1, 16)):
            data[rng.choice(span)] ^= 1 << rng.randrange(8)
        path = root / f"flip-{where}-{name}-{i}{CONTAINERS[name][0]}"
        path.write_bytes(bytes(data))
        corpus.add(path, f"{where} byte flips")

    # not videos at all
    for path, content, kind in ((root / "zero.mp4", b"", "zero bytes"), (root / "zero.mkv", b"", "zero bytes"),
                                (root / "text.mp4", b"just some notes\n" * 20, "text named .mp4"),
                                (root / "random.mp4", rng.randbytes(4096), "random bytes")):
        path.write_bytes(content)
        corpus.add(path, kind)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", str(root / "image.png"))
    (root / "image.png").rename(root / "image-png.mp4")
    corpus.add(root / "image-png.mp4", "image named .mp4")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", str(root / "image.jpg"))
    (root / "image.jpg").rename(root / "image-jpg.mp4")
    corpus.add(root / "image-jpg.mp4", "image named .mp4")
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(root / "audio-only.mp4"))
    corpus.add(root / "audio-only.mp4", "audio only")

    # frame sizes, rates, rotation, start times
    for size, valid in pick([("2x2", False), ("8x8", False), ("15x16", False), ("16x16", True), ("1920x1080", True)]):
        corpus.add(_clip(root / f"size-{size}.mp4", size=size, audio=False), f"frame size {size}", valid)
    for rate, valid in pick([("1", True), ("1/2", True), ("240", True)]):
        corpus.add(_clip(root / f"rate-{rate.replace('/', 'over')}.mp4", seconds=2, rate=rate),
                   f"{rate} frames/s", valid)
    corpus.add(_clip(root / "vfr.mp4", extra=("-vf", "select='gt(random(0)\\,0.4)'", "-fps_mode", "passthrough")),
               "variable frame rate", True)
    for degrees in pick([90, 270]):
        corpus.add(_clip(root / f"rotate-{degrees}.mp4", extra=("-metadata:s:v:0", f"rotate={degrees}")),
                   f"rotated {degrees}", True)
    for suffix in pick([".mp4", ".mkv", ".ts"]):
        codec = CONTAINERS["mkv"][1] if suffix == ".mkv" else ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"]
        corpus.add(_clip(root / f"late-start{suffix}", codec=codec, extra=("-output_ts_offset", "36000")),
                   "large start timestamp", True)

    # hostile names, special files, colliding stems
    valid_mp4 = bases["mp4"]
    for name in pick(HOSTILE_NAMES, least=3):
        (root / name).write_bytes(valid_mp4)
        hidden = name.startswith(".")  # a folder's hidden files are not inputs; given by name they are
        corpus.add(root / name, "hidden name" if hidden else "hostile name", not hidden)
    os.mkfifo(root / "fifo.mp4")
    corpus.add(root / "fifo.mp4", "FIFO")
    (root / "loop.mp4").symlink_to("loop.mp4")
    corpus.add(root / "loop.mp4", "symbolic link loop")
    (root / "dangling.mp4").symlink_to("does-not-exist.mp4")
    corpus.add(root / "dangling.mp4", "dangling symbolic link")
    for name in ("a.mp4", "a-2.mp4", "a.mov", "sub1/x.mp4", "sub2/x.mp4"):
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(valid_mp4 + name.encode())  # distinct content, still decodable
        corpus.add(root / name, "colliding stem", True)
    return corpus


def make_envelope_corpus(folder: Path, n_frames: int, video_sha256: str, seed: int = 0,
                         count: int = 60) -> dict[str, str]:
    """``count`` malformed (and a few odd but valid) envelope CSVs for a video of ``n_frames``
    envelope frames; returns ``{file name: kind}``. Names starting with ``valid-`` must be read."""
    from data_catalog.envelope_file import write_envelope

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "good.envelope.csv"
    write_envelope(good, np.full(n_frames, 0.2), 125.0, sample_rate=16000, hop_length=128, frame_length=512,
                   metadata={"video_sha256": video_sha256})
    lines = good.read_text().splitlines()
    sidecar = json.loads(good.with_suffix(".json").read_text())

    def row(_: int) -> int:
        return rng.randrange(1, len(lines))

    def edit(i: int, value: str) -> list[str]:
        out = list(lines)
        t = out[i].split(",")[0]
        out[i] = f"{t},{value}"
        return out

    makers = [
        ("non-numeric rms", lambda: edit(row(0), rng.choice(["oops", "", "0,5", "1e", "--1"]))),
        ("NaN or inf", lambda: edit(row(0), rng.choice(["nan", "inf", "-inf", "NaN"]))),
        ("negative rms", lambda: edit(row(0), f"-{rng.random():.3f}")),
        ("rms above 1", lambda: edit(row(0), f"{1 + rng.random():.3f}")),
        ("times swapped", lambda: (lambda i, out: out.__setitem__(slice(i, i + 2), [out[i + 1], out[i]]) or out)(
            rng.randrange(1, len(lines) - 1), list(lines))),
        ("duplicate time", lambda: (lambda i, out: out.__setitem__(i + 1, out[i]) or out)(
            rng.randrange(1, len(lines) - 1), list(lines))),
        ("rows deleted", lambda: [x for j, x in enumerate(lines) if j == 0 or j % rng.randint(2, 9)]),
        ("rows added", lambda: lines + [f"{(n_frames + k + 0.5) / 125:.6f},0.1" for k in range(rng.randint(1, 50))]),
        ("header only", lambda: lines[:1]),
        ("no header", lambda: lines[1:]),
        ("wrong header", lambda: ["time,value"] + lines[1:]),
        ("second rms column", lambda: [f"{x},{x.split(',')[1]}" for x in lines]),
        ("field over the csv limit", lambda: edit(row(0), "7" * rng.randint(131_073, 300_000))),
        ("unclosed quote", lambda: (lambda i, out: out.__setitem__(i, '"' + out[i]) or out)(row(0), list(lines))),
        ("long garbage cell", lambda: edit(row(0), "x" * rng.randint(1000, 50_000))),
        ("off-grid time", lambda: (lambda i, out: out.__setitem__(i, f"{float(out[i].split(',')[0]) + 0.004:.6f},0.1")
                                   or out)(row(0), list(lines))),
    ]
    kinds: dict[str, str] = {}
    for i in range(count):
        path = folder / f"bad-{i:02d}.envelope.csv"
        special = i % 20
        if special == 0:
            path.write_bytes(b"")
            kinds[path.name] = "empty file"
        elif special == 1:
            path.write_bytes(rng.randbytes(2048))
            kinds[path.name] = "binary bytes"
        elif special == 2:
            path.write_text("time_s,rms\n0.004,0.1\x00\n")
            kinds[path.name] = "NUL byte"
        elif special == 3:
            path.write_text("\n".join(lines) + "\n")
            path.with_suffix(".json").write_text(rng.choice(
                ["{", "[]", "null", '{"frame_rate": 0}', '{"frame_rate": "x"}', '{"frame_rate": 125, "n_frames": -1}']))
            kinds[path.name] = "bad sidecar"
        elif special == 4:
            path.write_text("\n".join(lines) + "\n")
            path.with_suffix(".json").write_text(json.dumps({**sidecar, "video_sha256": "f" * 64}))
            kinds[path.name] = "sidecar of another video"
        elif special == 5:
            os.mkfifo(path)
            kinds[path.name] = "FIFO"
        elif special == 6:
            path.symlink_to(path.name)
            kinds[path.name] = "symbolic link loop"
        else:  # an edited CSV beside its untouched sidecar, as a user leaves it
            kind, make = makers[i % len(makers)]
            path.write_text("\n".join(make()) + "\n")
            path.with_suffix(".json").write_text(json.dumps(sidecar))
            kinds[path.name] = kind
    for name, text in (("valid-semicolons.envelope.csv", "\n".join(lines).replace(",", ";")),
                       ("valid-crlf.envelope.csv", "\r\n".join(lines)),
                       ("valid-bom.envelope.csv", "\ufeff" + "\n".join(lines))):
        (folder / name).write_text(text + "\n", newline="")
        kinds[name] = "odd but valid"
    return kinds


@dataclass
class Audit:
    """What a batch left in its output folder."""

    ok: int = 0
    clear_errors: int = 0
    internal_errors: list[str] = field(default_factory=list)
    unclear_errors: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    partial_sets: list[str] = field(default_factory=list)
    shared_folders: list[str] = field(default_factory=list)
    outside_out: list[str] = field(default_factory=list)

    def problems(self) -> dict[str, list[str]]:
        return {k: v for k, v in (("internal errors", self.internal_errors), ("unclear errors", self.unclear_errors),
                                  ("leftover files", self.leftovers), ("partial output sets", self.partial_sets),
                                  ("folders shared by two videos", self.shared_folders),
                                  ("outputs outside --out", self.outside_out)) if v}


MAX_ERROR_CHARS = 400  # one line a person reads


def audit_run(run: dict, out: Path) -> Audit:
    """Count a batch's outcome from its run record and its output folder."""
    from data_catalog.atomic import is_temporary_name

    audit = Audit()
    owners: dict[str, str] = {}
    out_real = out.resolve()
    for video in run["videos"]:
        if video["status"] in ("ok", "cached"):
            audit.ok += 1
            folder = video["output_dir"]
            if folder in owners:
                audit.shared_folders.append(f"{folder}: {owners[folder]} and {video['video_path']}")
            owners[folder] = video["video_path"]
            if not Path(folder).resolve().is_relative_to(out_real):
                audit.outside_out.append(folder)
            continue
        error = video.get("error") or ""
        if "internal error" in error:
            audit.internal_errors.append(error[:300])
        elif not error.startswith(video["video_path"]) or len(error) > MAX_ERROR_CHARS + len(video["video_path"]) \
                or "\n" in error.removeprefix(video["video_path"]):
            audit.unclear_errors.append(error[:300])
        else:
            audit.clear_errors += 1
    for path in out.rglob("*"):
        if path.is_file() and is_temporary_name(path.name):
            audit.leftovers.append(str(path))
    for record_path in out.rglob("*.record.json"):
        record = json.loads(record_path.read_text())
        missing = [p for p in record.get("outputs", {}).values() if not Path(p).is_file()]
        if missing:
            audit.partial_sets.append(f"{record_path.parent}: missing {missing}")
    for folder in {p.parent for p in out.rglob("*") if p.is_file() and not p.name.startswith("sonorize-run-")}:
        if not list(folder.glob("*.record.json")):
            audit.partial_sets.append(f"{folder}: files without a record")
    return audit
