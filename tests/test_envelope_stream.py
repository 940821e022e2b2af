"""Streaming RMS equals the whole-signal RMS, whatever the block sizes."""

import numpy as np
import pytest

from folai_models.envelope import rms_envelope
from folai_models.envelope_stream import StreamingRmsEnvelope


@pytest.mark.parametrize("block", [100, 128, 193, 1000, 16000, 10**6])
@pytest.mark.parametrize("n", [400, 16000, 16000 * 3 + 77])
def test_blocks_give_the_whole_signal_envelope(block, n):
    rng = np.random.default_rng(n)
    audio = (rng.standard_normal(n) * np.linspace(0, 0.5, n)).astype(np.float32)
    stream = StreamingRmsEnvelope()
    for start in range(0, n, block):
        stream.update(audio[start:start + block])
    np.testing.assert_allclose(stream.finish(), rms_envelope(audio), rtol=1e-5, atol=1e-7)
    assert stream.n_samples == n and stream.peak == pytest.approx(np.abs(audio).max())


def test_too_short_and_bad_blocks():
    stream = StreamingRmsEnvelope()
    stream.update(np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="too short"):
        stream.finish()
    with pytest.raises(ValueError, match="mono"):
        StreamingRmsEnvelope().update(np.zeros((2, 10)))
