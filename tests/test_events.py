"""Onsets and events of RMS envelopes (folai_models.events)."""

import numpy as np
import pytest

from folai_models.envelope import rms_envelope, smooth_envelope
from folai_models.events import EnvelopeEvent, detect_onsets, envelope_events, onset_strength
from folai_models.rates import ENVELOPE_FRAME_RATE

N_FRAMES = 1250
ONSET_FRAMES = [100, 300, 520, 800, 1100]
AMPLITUDES = [0.5, 0.02, 0.1, 0.012, 0.9]  # loud and barely-above-silence hits


def _bursts(onset_frames=ONSET_FRAMES, amplitudes=AMPLITUDES, decay_frames=10.0, n=N_FRAMES):
    env = np.zeros(n)
    for start, amp in zip(onset_frames, amplitudes):
        env[start:] = np.maximum(env[start:], amp * np.exp(-np.arange(n - start) / decay_frames))
    return env


def _frame_time(frames):
    return (np.asarray(frames) + 0.5) / ENVELOPE_FRAME_RATE


def test_finds_every_burst_at_its_rising_frame():
    onsets = detect_onsets(_bursts(), ENVELOPE_FRAME_RATE)
    np.testing.assert_allclose(onsets, _frame_time(ONSET_FRAMES))


def test_onset_is_the_rise_not_the_peak():
    env = np.zeros(400)
    env[200:210] = np.linspace(0.05, 0.5, 10)  # 80 ms attack
    env[210:] = 0.5 * np.exp(-np.arange(190) / 10)
    onsets = detect_onsets(env, ENVELOPE_FRAME_RATE)
    assert onsets.size == 1 and onsets[0] == pytest.approx(_frame_time(200))


def test_no_onsets_in_silence_or_constant_level():
    assert detect_onsets(np.zeros(N_FRAMES), ENVELOPE_FRAME_RATE).size == 0
    assert detect_onsets(np.full(N_FRAMES, 0.3), ENVELOPE_FRAME_RATE).size == 0
    assert detect_onsets(np.zeros(1), ENVELOPE_FRAME_RATE).size == 0


def test_bursts_below_silence_are_ignored():
    quiet = _bursts(amplitudes=[0.008] * len(ONSET_FRAMES))
    assert detect_onsets(quiet, ENVELOPE_FRAME_RATE).size == 0
    assert detect_onsets(quiet, ENVELOPE_FRAME_RATE, silence_rms=0.005).size == len(ONSET_FRAMES)


def test_nms_window_merges_close_rises():
    env = _bursts(onset_frames=[100, 103], amplitudes=[0.2, 0.4])  # 24 ms apart
    assert detect_onsets(env, ENVELOPE_FRAME_RATE).size == 1
    env = _bursts(onset_frames=[100, 120], amplitudes=[0.2, 0.4])  # 160 ms apart
    assert detect_onsets(env, ENVELOPE_FRAME_RATE).size == 2


def test_works_on_real_rms_and_smoothed_envelopes():
    sr = 16000
    y = np.zeros(10 * sr, dtype=np.float32)
    rng = np.random.default_rng(0)
    hits_s = [1.0, 3.0, 5.5, 8.0]
    for t in hits_s:
        n = int(0.3 * sr)
        start = int(t * sr)
        y[start : start + n] += 0.3 * rng.standard_normal(n).astype(np.float32) * np.exp(-np.arange(n) / 800)
    env = rms_envelope(y)
    # raw RMS rises within half a window (16 ms) before the hit; smoothing
    # spreads the rise earlier, by up to half the kernel (7 frames) for "kernel"
    for method, early_s in (("none", 0.02), ("ellip", 0.04), ("kernel", 0.07)):
        onsets = detect_onsets(smooth_envelope(env, method), ENVELOPE_FRAME_RATE)
        assert onsets.size == len(hits_s), method
        assert np.all(onsets <= np.array(hits_s) + 0.008) and np.all(onsets >= np.array(hits_s) - early_s), method


def test_onset_strength_is_positive_rise():
    env = np.array([0.0, 0.0, 0.5, 0.2, 0.2, 1.5])
    strength = onset_strength(env)
    assert strength[0] == 0 and strength[1] == 0 and strength[2] > 0
    assert strength[3] == 0 and strength[4] == 0 and strength[5] > 0  # >1 clipped to 1


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 5)), np.zeros(0), np.array([0.1, np.nan]), np.array([0.1, -0.1])]
)
def test_bad_envelopes(bad):
    with pytest.raises(ValueError):
        detect_onsets(bad, ENVELOPE_FRAME_RATE)
    with pytest.raises(ValueError):
        envelope_events(bad, ENVELOPE_FRAME_RATE)


def test_events_of_bursts():
    env = _bursts()
    events = envelope_events(env, ENVELOPE_FRAME_RATE)
    assert len(events) == len(ONSET_FRAMES)
    assert all(isinstance(e, EnvelopeEvent) for e in events)
    for event, start, amp in zip(events, ONSET_FRAMES, AMPLITUDES):
        assert event.start_s == pytest.approx(_frame_time(start))
        assert event.peak_s == pytest.approx(_frame_time(start))
        assert event.peak_rms == pytest.approx(amp)
        assert event.start_s < event.end_s
        # ends at the release threshold: 20 dB below the peak, or silence
        end_frame = int(round(event.end_s * ENVELOPE_FRAME_RATE - 0.5))
        assert env[end_frame] < max(0.01, 0.1 * amp) <= env[end_frame - 1]
    assert all(a.end_s <= b.start_s for a, b in zip(events, events[1:]))


def test_events_split_at_onsets_and_cover_sound_already_on():
    env = np.full(500, 0.05)  # sound on from the first frame, no onset there
    env[250:] = 0.4 * np.exp(-np.arange(250) / 40) + 0.05  # a hit on top of it
    events = envelope_events(env, ENVELOPE_FRAME_RATE)
    assert len(events) == 2
    assert events[0].start_s == pytest.approx(_frame_time(0))
    assert events[0].end_s == pytest.approx(events[1].start_s) == pytest.approx(_frame_time(250))
    assert events[1].end_s == pytest.approx(500 / ENVELOPE_FRAME_RATE)  # clipped to the duration


def test_events_with_given_onsets_and_silence():
    assert envelope_events(np.zeros(300), ENVELOPE_FRAME_RATE) == []
    env = _bursts()
    events = envelope_events(env, ENVELOPE_FRAME_RATE, onsets=_frame_time(ONSET_FRAMES[:2]))
    assert [round(e.start_s, 3) for e in events[:2]] == list(np.round(_frame_time(ONSET_FRAMES[:2]), 3))
    assert len(events) == len(ONSET_FRAMES)  # regions without a given onset still count


def test_min_gap_bridges_short_dips():
    env = np.zeros(300)
    env[100:120] = 0.2
    env[123:140] = 0.2  # a 24 ms dip inside one sound
    merged = envelope_events(env, ENVELOPE_FRAME_RATE, onsets=[_frame_time(100)])
    assert len(merged) == 1 and merged[0].end_s == pytest.approx(_frame_time(140))
    apart = envelope_events(env, ENVELOPE_FRAME_RATE, onsets=[_frame_time(100)], min_gap_s=0.0)
    assert len(apart) == 2
