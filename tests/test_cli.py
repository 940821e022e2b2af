"""The command line: envelope -> edit -> synth, envelope-from-audio, labels, errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from data_catalog.envelope_file import read_envelope
from data_catalog.examples import impact_clicks, make_bouncing_ball_video
from flows.cli import app

pytestmark = pytest.mark.needs_ffmpeg
runner = CliRunner()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "ball.mp4"
    make_bouncing_ball_video(path, duration_s=3.0)
    return path


def test_envelope_edit_and_synth(clip, tmp_path):
    result = runner.invoke(app, ["envelope", str(clip), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    csv_path = tmp_path / "ball.envelope.csv"
    for suffix in (".envelope.json", ".envelope.png", ".labels.txt"):
        assert (tmp_path / f"ball{suffix}").is_file()
    env = read_envelope(csv_path)
    assert env.duration_s == pytest.approx(3.0, abs=0.02)

    # the sound designer silences everything after 1.5 s and adds a hit at 2.5 s
    lines = csv_path.read_text().splitlines()
    edited = [lines[0]]
    for line in lines[1:]:
        t, v = line.split(",")
        t = float(t)
        value = 0.0 if t > 1.5 else float(v)
        if 2.5 <= t < 2.56:
            value = 0.3
        edited.append(f"{t:.6f},{value:.6f}")
    csv_path.write_text("\n".join(edited) + "\n")
    result = runner.invoke(app, ["synth", str(clip), "--envelope", str(csv_path), "--out", str(tmp_path),
                                 "--prompt", "glass"])
    assert result.exit_code == 0, result.output
    audio, rate = sf.read(tmp_path / "ball.foley.wav")
    assert rate == 44100 and audio.shape == (3 * 44100, 2)
    level = lambda a, b: float(np.sqrt(np.mean(audio[int(a * rate):int(b * rate)] ** 2)))  # noqa: E731
    assert level(2.5, 2.6) > 10 * level(1.7, 2.4)  # the added hit is there, the silenced part is quiet
    assert (tmp_path / "ball.foley.mp4").is_file()


def test_synth_rejects_a_malformed_envelope(clip, tmp_path):
    bad = tmp_path / "bad.envelope.csv"
    bad.write_text("time_s,rms\n0.004,0.1\n0.012,oops\n")
    result = runner.invoke(app, ["synth", str(clip), "--envelope", str(bad)])
    assert result.exit_code == 2
    assert "line 3: rms value 'oops' is not a number" in result.output


def test_synth_rejects_an_envelope_of_the_wrong_length(clip, tmp_path):
    result = runner.invoke(app, ["envelope", str(clip), "--out", str(tmp_path)])
    assert result.exit_code == 0
    other = tmp_path / "other.mp4"
    make_bouncing_ball_video(other, duration_s=2.0)
    result = runner.invoke(app, ["synth", str(other), "--envelope", str(tmp_path / "ball.envelope.csv")])
    assert result.exit_code == 2 and "but the video lasts 2.000 s" in result.output


def test_envelope_from_audio_and_labels(tmp_path):
    impacts = [0.3, 0.9, 1.6]
    wav = tmp_path / "claps.wav"
    sf.write(wav, impact_clicks(impacts, 2.0)[0], 44100)
    result = runner.invoke(app, ["envelope-from-audio", str(wav), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    env = read_envelope(tmp_path / "claps.envelope.csv")
    assert env.frame_rate == 125.0 and env.duration_s == pytest.approx(2.0, abs=0.01)
    labels = (tmp_path / "claps.labels.txt").read_text().splitlines()
    starts = [float(line.split("\t")[0]) for line in labels]
    assert len(starts) == 3 and np.allclose(starts, impacts, atol=0.03)
    result = runner.invoke(app, ["labels", str(tmp_path / "claps.envelope.csv"), "--out", str(tmp_path / "l.txt")])
    assert result.exit_code == 0 and (tmp_path / "l.txt").read_text().splitlines() == labels


def test_clear_errors_for_missing_and_broken_inputs(tmp_path):
    result = runner.invoke(app, ["envelope", str(tmp_path / "missing.mp4")])
    assert result.exit_code == 2 and "file does not exist" in result.output
    (tmp_path / "notes.mp4").write_text("hello")
    result = runner.invoke(app, ["envelope", str(tmp_path / "notes.mp4")])
    assert result.exit_code == 2 and "not a media file" in result.output
    result = runner.invoke(app, ["envelope-from-audio", str(tmp_path / "notes.mp4")])
    assert result.exit_code == 2 and "notes.mp4" in result.output


def test_preprocess_and_train_commands_report_bad_input(tmp_path):
    result = runner.invoke(app, ["preprocess", "nope", str(tmp_path)])
    assert result.exit_code == 2 and "unknown dataset 'nope'" in result.output
    result = runner.invoke(app, ["preprocess", "folder", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "missing" in result.output
    result = runner.invoke(app, ["train-video2rms", "walking-the-maps", "--out", str(tmp_path / "ckpt")])
    assert result.exit_code == 2 and "run the preprocess flow" in result.output


def test_demo_writes_every_output(tmp_path, prefect_home):
    # the README's first command, in process
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    outputs = tmp_path / "demo" / "bouncing-ball"
    for suffix in (".foley.wav", ".foley.mp4", ".envelope.csv", ".envelope.json", ".envelope.png", ".labels.txt",
                   ".record.json"):
        assert (outputs / f"bouncing-ball{suffix}").is_file(), sorted(p.name for p in outputs.iterdir())
    audio, rate = sf.read(outputs / "bouncing-ball.foley.wav")
    assert rate == 44100 and audio.shape[1] == 2 and np.abs(audio).max() > 0


def test_synth_watch_renders_each_save_and_survives_a_bad_one(clip, tmp_path):
    """The edit -> listen loop: `sonorize synth --watch` renders again on each save of the envelope;
    a broken save prints its error and the loop goes on."""
    import os
    import signal
    import subprocess
    import sys
    import time

    assert runner.invoke(app, ["envelope", str(clip), "--out", str(tmp_path)]).exit_code == 0
    csv_path = tmp_path / "ball.envelope.csv"
    wav = tmp_path / "ball.foley.wav"
    lines = csv_path.read_text().splitlines()
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "synth", str(clip), "--envelope", str(csv_path),
                             "--out", str(tmp_path), "--watch"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            # started as from a shell's background (SIGINT ignored): Ctrl-C must still stop it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))

    def wait_for(word: str, timeout: float = 60.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            line = proc.stderr.readline()
            if word in line:
                return line
            assert line or proc.poll() is None, f"the watcher exited ({proc.returncode})"
        raise AssertionError(f"no {word!r} within {timeout} s")

    try:
        wait_for("watching")
        first = wav.read_bytes()
        loud = [lines[0]] + [f"{t},{0.3 if 1.0 <= float(t) < 1.06 else 0.0}" for t, _ in
                             (line.split(",") for line in lines[1:])]
        csv_path.write_text("\n".join(loud) + "\n")
        assert "rendered ball.foley.wav in" in wait_for("rendered")
        audio, rate = sf.read(wav)
        assert wav.read_bytes() != first and np.abs(audio[: int(0.9 * rate)]).max() < 0.05
        assert np.abs(audio[int(1.0 * rate) : int(1.2 * rate)]).max() > 0.1  # the one hit the edit left
        csv_path.write_text("time_s,rms\n0.004,oops\n")
        assert "ball.envelope.csv" in wait_for("error")  # one line naming the file
        csv_path.write_text("\n".join(lines) + "\n")  # and back: the loop still renders
        wait_for("rendered")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:  # a watcher that ignored Ctrl-C is not left running after the test
                proc.kill()
