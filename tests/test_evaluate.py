"""`sonorize evaluate`: FAD-SFX of a folder of generated sound against real recordings, worst file first."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.skipif(importlib.util.find_spec("aisfx") is None,
                                reason="the aisfx wheel is not installed (bash setup.sh test)")
SR = 44100


def clicks(rng, seconds=5.0, rate_hz=3.0):
    """Decaying noise bursts over a little room noise: a stand-in for recorded hits."""
    y = 0.002 * rng.standard_normal(int(seconds * SR))
    for start in rng.uniform(0, seconds - 0.3, int(seconds * rate_hz)):
        a = int(start * SR)
        y[a : a + 8000] += 0.3 * rng.standard_normal(8000) * np.exp(-np.arange(8000) / 1500)
    return y.astype(np.float32)


def folders(tmp_path, rng, n_reference):
    """``real/`` with ``n_reference`` takes of clicks, and an empty ``ours/``."""
    reference, generated = tmp_path / "real", tmp_path / "ours"
    reference.mkdir()
    generated.mkdir()
    for i in range(n_reference):
        sf.write(reference / f"take{i}.wav", clicks(rng), SR)
    return reference, generated


def test_evaluate_ranks_the_least_real_file_first(tmp_path):
    from flows.evaluate_flow import evaluate

    rng = np.random.default_rng(0)
    reference, generated = folders(tmp_path, rng, 3)
    sf.write(generated / "like-real.wav", clicks(rng), SR)
    sf.write(generated / "a-sine.wav", (0.3 * np.sin(2 * np.pi * 1000 * np.arange(5 * SR) / SR)).astype(np.float32), SR)
    sf.write(generated / "short.wav", clicks(rng, seconds=1.0), SR)
    (generated / "broken.wav").write_bytes(b"RIFF....not audio")
    result = evaluate(generated=[str(generated)], reference=[str(reference)], csv_path=str(tmp_path / "s.csv"))
    names = [c["path"].rsplit("/", 1)[-1] for c in result["clips"]]
    assert result["n_generated"] == 3 and result["n_reference"] == 3 and result["fad_sfx"] > 0
    assert names[:2] == ["a-sine.wav", "like-real.wav"]  # the sine sounds least like the takes
    assert result["clips"][2]["fad_sfx"] is None  # too short for a score of its own
    assert [f["path"].rsplit("/", 1)[-1] for f in result["failed"]] == ["broken.wav"]
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == "path,fad_sfx,blocks"


def test_evaluate_reports_every_metric_and_names_missing_weights(tmp_path, monkeypatch):
    from flows.evaluate_flow import evaluate

    monkeypatch.setenv("SONORIZE_MODEL_DIR", str(tmp_path / "empty-store"))
    rng = np.random.default_rng(1)
    reference, generated = folders(tmp_path, rng, 2)
    for i in range(2):
        sf.write(generated / f"take{i}.foley.wav", clicks(rng), SR)  # our outputs pair with take{i}
    result = evaluate(generated=[str(generated)], reference=[str(reference)])
    metrics = result["metrics"]
    assert result["pairs"] == 2
    assert metrics["fad_sfx"] == pytest.approx(result["fad_sfx"])
    assert metrics["fad_p"] == ("skipped: weights for panns-wavegram-logmel missing "
                                "(sonorize models pull panns-wavegram-logmel)")
    assert metrics["favd"].startswith("skipped: weights for i3d-rgb missing")
    assert 0 <= metrics["e_l1"] < 1 and 0 <= metrics["onset_f1"] <= 1 and 0 <= metrics["acc@10"] <= 1
