"""A seeded slice of the hostile-input corpus (benchmarks/fuzz_inputs.py runs all of it): no internal
error, no partial or leftover file, no output overwritten or outside --out, one clear line per bad file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fuzz_corpus import audit_run, make_envelope_corpus, make_media_corpus
from media_factory import pattern_clip

pytestmark = pytest.mark.needs_ffmpeg
SEED = 16
runner = CliRunner()


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith("sonorize-run-")}


@pytest.fixture(scope="module")
def fuzz_batch(tmp_path_factory, prefect_home):
    from flows.sonorize_flow import sonorize

    root = tmp_path_factory.mktemp("fuzz")
    corpus = make_media_corpus(root / "media", seed=SEED, scale=0.15)
    out = root / "out"
    result = sonorize(paths=[str(corpus.root)], out_dir=str(out), envelope_engine="preview")
    return {"corpus": corpus, "result": result, "out": out, "root": root}


def test_the_slice_holds_every_kind(fuzz_batch):
    kinds = set(fuzz_batch["corpus"].kinds.values())
    for kind in ("truncated mp4", "truncated mkv", "truncated webm", "truncated avi", "header byte flips",
                 "mid-file byte flips", "zero bytes", "text named .mp4", "image named .mp4", "audio only",
                 "hostile name", "FIFO", "symbolic link loop", "colliding stem", "large start timestamp"):
        assert kind in kinds, kind


def test_bad_inputs_are_clear_errors_and_nothing_is_left(fuzz_batch):
    corpus, result, out = fuzz_batch["corpus"], fuzz_batch["result"], fuzz_batch["out"]
    audit = audit_run(result, out)
    assert audit.problems() == {}
    statuses = {str(Path(v["video_path"]).relative_to(corpus.root)): v for v in result["videos"]}
    for name in corpus.valid:
        assert statuses[name]["status"] == "ok", (name, statuses[name].get("error"))
    assert audit.ok + audit.clear_errors == len(result["videos"])
    assert not (fuzz_batch["root"] / "pwned").exists()


def test_a_later_run_overwrites_nothing(fuzz_batch, tmp_path):
    from flows.sonorize_flow import sonorize

    out = fuzz_batch["out"]
    before = _snapshot(out)
    elsewhere = tmp_path / "sub1" / "x.mp4"  # the batch's sub1/x.mp4 again, from another root, other content
    elsewhere.parent.mkdir()
    elsewhere.write_bytes((fuzz_batch["corpus"].root / "sub1" / "x.mp4").read_bytes() + b"other")
    result = sonorize(paths=[str(tmp_path)], out_dir=str(out), envelope_engine="preview")
    assert result["videos"][0]["status"] == "ok"
    after = _snapshot(out)
    assert {k: v for k, v in after.items() if k in before} == before
    assert Path(result["videos"][0]["output_dir"]) == out / "sub1" / "x-2"


def test_malformed_envelope_files_are_one_line_each(tmp_path):
    from data_catalog.hashing import sha256_file
    from flows.cli import app

    video = pattern_clip(tmp_path / "clip.mp4", seconds=1.0, size="64x48")
    kinds = make_envelope_corpus(tmp_path / "envelopes", n_frames=125, video_sha256=sha256_file(video),
                                 seed=SEED, count=24)
    for name, kind in kinds.items():
        path = tmp_path / "envelopes" / name
        result = runner.invoke(app, ["labels", str(path), "--out", str(tmp_path / "l.txt")])
        assert result.exception is None or isinstance(result.exception, SystemExit), (kind, result.exception)
        if name.startswith("valid-"):
            assert result.exit_code == 0, (kind, result.output)
            continue
        if kind == "sidecar of another video":  # only a command with a video can tell
            result = runner.invoke(app, ["synth", str(video), "--envelope", str(path), "--out", str(tmp_path)])
        assert result.exit_code == 2, (kind, result.output)
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and name.removesuffix(".csv") in errors[0] and len(errors[0]) < 400, (kind, result.output)
