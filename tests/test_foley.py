"""The Foley engine: sampler over a sound library, procedural materials, tails, room tone, streaming."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from folai_models import foley
from folai_models.events import envelope_events
from folai_models.foley.levels import frame_levels
from folai_models.foley.select import OneShotSelector, strength_ranks
from folai_models.preview_synth import envelope_rms

SR = 44100
FR = 125.0


def hit_envelope(times_s, peaks, duration_s=3.0, decay_s=0.06):
    """An envelope of decaying hits at ``times_s`` (the grid of the envelope stage)."""
    t = (np.arange(int(duration_s * FR)) + 0.5) / FR
    env = np.zeros_like(t)
    for t0, p in zip(times_s, peaks):
        after = t >= t0
        env[after] = np.maximum(env[after], p * np.exp(-(t[after] - t0) / decay_s))
    return env


def one_shot(rng, level, f0, length_s=0.4):
    """A struck-object recording: a damped tone plus a noisy attack, over a little room noise."""
    t = np.arange(int(length_s * SR)) / SR
    x = np.sin(2 * np.pi * f0 * t) * np.exp(-t / 0.08) + 0.5 * rng.standard_normal(t.size) * np.exp(-t / 0.005)
    return level * x / np.abs(x).max()


@pytest.fixture
def library(tmp_path):
    """A folder of 8 recordings, each one hit of a different loudness and pitch, in material folders."""
    rng = np.random.default_rng(0)
    root = tmp_path / "library"
    for i in range(8):
        folder = root / ("wood" if i % 2 else "metal")
        folder.mkdir(parents=True, exist_ok=True)
        quiet = 0.0007 * rng.standard_normal(int(0.6 * SR))
        y = np.concatenate([quiet, one_shot(rng, 0.05 + 0.12 * i, 300 + 90 * i), quiet])
        y += 0.0005 * rng.standard_normal(y.size)
        sf.write(folder / f"hit{i}.wav", y.astype(np.float32), SR)
    return root


def render(env, source, **kwargs):
    n = int(round(env.size / FR * SR))
    blocks, details = foley.render_foley(env, FR, SR, n, source, **kwargs)
    return np.concatenate(list(blocks), axis=1), details


def test_sound_bank_from_a_folder_is_cached(library, monkeypatch):
    from tasks.library_tasks import sound_bank_task

    bank = sound_bank_task.fn(str(library))
    assert len(bank) == 8 and bank.sample_rate == SR
    assert all(abs(foley.levels.window_level(s, SR) - 1.0) < 1e-3 for s in bank.one_shots)  # unit level
    assert bank.level_db.max() - bank.level_db.min() > 15  # loudness as recorded
    assert bank.room_tone and sorted({n.split("/")[0] for n in bank.names}) == ["metal", "wood"]
    # The second time, nothing is analysed: every file comes from the catalog.
    monkeypatch.setattr("tasks.library_tasks.analyse_recording", lambda *a, **k: pytest.fail("re-analysed"))
    again = sound_bank_task.fn(str(library))
    assert len(again) == 8 and np.allclose(again.level_db, bank.level_db)


def test_sampler_varies_matches_intensity_and_keeps_times(library):
    from tasks.library_tasks import sound_bank_task

    bank = sound_bank_task.fn(str(library))
    times = np.arange(0.2, 5.6, 0.3)
    peaks = np.linspace(0.02, 0.3, times.size)[np.random.default_rng(1).permutation(times.size)]
    env = hit_envelope(times, peaks, duration_s=6.0)
    source = foley.SamplerSource(bank, SR, None, np.random.default_rng(0))
    y, details = render(env, source)
    chosen = source.chosen
    assert len(chosen) == times.size == details["events"]
    assert all(a != b for a, b in zip(chosen, chosen[1:]))  # never the same one-shot twice in a row
    ranks = strength_ranks(bank)[chosen]
    assert np.corrcoef(ranks, peaks)[0, 1] > 0.7  # loud events get loud one-shots
    # Room tone: never digital silence (a quantized recording crosses zero exactly now and then, never for long).
    for channel in y:
        zero = np.concatenate([[False], channel == 0, [False]])
        edges = np.flatnonzero(zero[1:] != zero[:-1])
        assert zero.mean() < 0.02 and np.max(edges[1::2] - edges[::2], initial=0) <= 2
    # The envelope still sets when: every output event starts within 50 ms of the envelope's.
    out_events = envelope_events(envelope_rms(y, SR, FR, env.size), FR)
    starts = np.array([e.start_s for e in out_events])
    for t in times:
        assert np.min(np.abs(starts - t)) < 0.05


def test_sampler_prefers_named_files(library):
    from tasks.library_tasks import sound_bank_task

    bank = sound_bank_task.fn(str(library))
    selector = OneShotSelector(bank, "a knock on wood", np.random.default_rng(0))
    picks = [selector.choose(q) for q in np.random.default_rng(2).uniform(size=40)]
    assert all(bank.names[k].startswith("wood/") for k in picks)


def test_peaks_sit_where_the_envelope_says_and_tails_ring_on():
    env = hit_envelope([0.5], [0.1], duration_s=2.0, decay_s=0.03)  # a loud hit, under the peak ceiling
    source = foley.ProceduralSource("metal", SR, np.random.default_rng(0))
    y, details = render(env, source, room_tone_db=-70.0, reverb=0.0)
    # Constant-power panning: the event's level is the power sum of the channels (their mean is ~3 dB under it).
    levels = np.hypot(*(frame_levels(channel, SR, FR, env.size) for channel in y))
    assert details["limited_events"] == 0
    assert 20 * np.log10(levels.max() / 0.1) == pytest.approx(0.0, abs=3.0)  # per-hit gain varies by ~1 dB
    # The envelope is silent 0.2 s after the hit; the metal keeps ringing well above the room tone.
    later = int(0.9 * FR)
    assert env[later] < 0.01 and levels[later] > 30 * 10 ** (-70 / 20)


def test_room_tone_is_there_and_can_be_set_or_turned_off():
    silent = np.zeros(int(20 * FR))  # long enough for the bed's slow drift to average out
    source = foley.ProceduralSource("wood", SR, np.random.default_rng(0))
    y, details = render(silent, source, room_tone_db=-50.0)
    rms_db = 20 * np.log10(np.sqrt(np.mean(np.square(y))))
    assert details["events"] == 0 and rms_db == pytest.approx(-50.0, abs=1.5)
    assert np.corrcoef(y[0], y[1])[0, 1] == pytest.approx(0.5, abs=0.1)  # a room, not two unrelated noises
    off, _ = render(silent, foley.ProceduralSource("wood", SR, np.random.default_rng(0)), room_tone_db=-np.inf,
                    reverb=0.0)
    assert not np.any(off)


def test_procedural_strikes_vary_and_footsteps_are_heel_toe():
    rng = np.random.default_rng(0)
    wood = foley.ProceduralSource("wood", SR, rng)
    a, b = wood.one_shot(0.1, 0.5, 0.5, rng), wood.one_shot(0.1, 0.5, 0.5, rng)
    n = min(a.size, b.size)
    assert not np.allclose(a[:n], b[:n])  # no two strikes alike ...
    spectra = [np.abs(np.fft.rfft(x[:4096])) for x in (a, b)]
    assert abs(np.argmax(spectra[0]) - np.argmax(spectra[1])) <= 3  # ... but one object (same main mode)
    assert foley.wants_footsteps("footsteps on gravel") and not foley.wants_footsteps("a stick hits wood")
    steps = foley.ProceduralSource("stone", SR, rng, footsteps=True)
    from scipy.signal import find_peaks

    heel_toe = 0
    for _ in range(10):
        x = steps.one_shot(0.1, 0.5, 0.8, rng)
        env = np.concatenate([[0.0], frame_levels(x, SR, 500.0, int(x.size / SR * 500))])  # 2 ms frames
        peaks, _ = find_peaks(env, prominence=0.1 * env.max(), distance=10)
        # the toe lands 50-110 ms after the heel (+ up to the 32 ms level window)
        heel_toe += len(peaks) >= 2 and 0.04 <= (peaks[1] - peaks[0]) / 500.0 <= 0.145
    assert heel_toe >= 5  # a soft toe can hide in the heel's ring now and then


def band_power(x, low, high):
    """Mean power density of ``x`` between ``low`` and ``high`` Hz."""
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return float(np.mean(spectrum[(f >= low) & (f < high)]))


def test_procedural_strikes_sound_recorded_bright_contact_and_a_ringing_body():
    rng = np.random.default_rng(1)
    wood = foley.ProceduralSource("wood", SR, rng)
    x = wood.one_shot(0.1, 0.5, 0.8, rng).astype(np.float64)
    energy = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    contact = np.abs(np.fft.rfft(x[: int(0.01 * SR)])) ** 2  # the first 10 ms: the stick's contact ...
    bright = contact[np.fft.rfftfreq(int(0.01 * SR), 1 / SR) > 1000].sum() / contact.sum()
    assert bright > 0.25 and bright > 1.25 * energy[f > 1000].sum() / energy.sum()  # ... brighter than the whole
    assert energy[f < 300].sum() > 0.2 * energy.sum()  # ... over the support's low thump
    assert energy[f > 14000].sum() < 0.01 * energy.sum()  # rolled off like a recording
    levels = 20 * np.log10(frame_levels(x, SR, 100.0, int(x.size / SR * 100)) + 1e-12)
    peak = int(np.argmax(levels))
    tail = levels[peak + 10 : peak + 20] - levels[peak]  # 100-200 ms after the peak
    assert np.all(tail < -10) and np.all(tail > -60)  # rings on, dies away: neither a click nor a drone
    # one take, one body: two strikes share their partials, another take's body has others
    from folai_models.foley.strike import DenseBody

    from scipy.signal import find_peaks

    def partials(x, k=8):  # the k strongest spectral peaks, Hz
        spectrum = np.abs(np.fft.rfft(x[:16384]))
        peaks, _ = find_peaks(spectrum, distance=20)
        return np.fft.rfftfreq(16384, 1 / SR)[peaks[np.argsort(spectrum[peaks])[-k:]]]

    def shared(a, b):
        return sum(np.min(np.abs(b - f)) < 0.01 * f for f in a)

    take, other = DenseBody(np.random.default_rng(2)), DenseBody(np.random.default_rng(3))
    first, second, elsewhere = (partials(b.render(SR, rng)) for b in (take, take, other))
    assert shared(first, second) >= 6 and shared(first, elsewhere) <= 3


def test_room_tone_is_low_heavy_unit_level_and_seamless():
    indoor = foley.streams.NoiseBedStream(SR, np.random.default_rng(0), foley.sources.ROOM_TONE_INDOOR)
    y = np.concatenate([indoor.read(SR), indoor.read(SR // 3), indoor.read(SR)])
    assert np.sqrt(np.mean(np.square(y))) == pytest.approx(1.0, rel=0.15)
    # ventilation rumble over hiss: ~5 dB/octave down from 100 Hz to 8 kHz (over 6 octaves)
    assert 10 * np.log10(band_power(y, 80, 160) / band_power(y, 5000, 10000)) > 20
    whole = foley.streams.NoiseBedStream(SR, np.random.default_rng(0), foley.sources.ROOM_TONE_INDOOR).read(y.size)
    np.testing.assert_allclose(y, whole, atol=1e-4)  # block by block = all at once (no seams)


def test_room_tone_drifts_slowly_around_the_level_it_was_set_to_in_both_channels_at_once():
    silent = np.zeros(int(60 * FR))
    y, _ = render(silent, foley.ProceduralSource("wood", SR, np.random.default_rng(0)), room_tone_db=-50.0)
    w = SR  # 1 s windows
    windows = y[:, : y.shape[1] // w * w].reshape(2, -1, w)
    level_db = 10 * np.log10(np.mean(np.square(windows), axis=2))
    assert 10 * np.log10(np.mean(np.square(y))) == pytest.approx(-50.0, abs=1.5)  # the level set stays the mean
    assert 1.0 < np.std(level_db[0]) < 4.0  # a real floor moves by dBs over seconds, not by tens of dB ...
    assert np.median(np.abs(np.diff(level_db[0]))) < 2.0  # ... slowly: no pumping from one second to the next
    assert np.corrcoef(level_db[0], level_db[1])[0, 1] > 0.9  # one room: both channels move together
    steady = foley.streams.LevelDrift(SR, np.random.default_rng(1), drift_db=0.0).read(w)
    assert np.all(steady == 1.0)
    with pytest.raises(ValueError, match="drift"):
        foley.streams.LevelDrift(SR, np.random.default_rng(1), drift_db=-1.0)
    drift = foley.streams.LevelDrift(SR, np.random.default_rng(2))
    blocks = np.concatenate([drift.read(n) for n in (1000, 1, 70000, 0, 30000)])
    np.testing.assert_allclose(blocks, foley.streams.LevelDrift(SR, np.random.default_rng(2)).read(blocks.size),
                               rtol=1e-5)  # block by block = all at once


@pytest.mark.parametrize("material", ["wood", "dirt", "paper"])
def test_stick_strikes_are_bright_to_12_khz_without_boom_or_air(material):
    source = foley.ProceduralSource(material, SR, np.random.default_rng(0))
    y = np.concatenate([source.one_shot(0.1, 1.0, 1.0, np.random.default_rng(i)) for i in range(5)])
    mid = band_power(y, 1000, 4000)
    # recorded drumstick hits (greatest-hits-dev) carry their stick's brightness up to ~12 kHz, nothing much
    # above 16 kHz, and a support's thump that does not drown the strike
    assert 10 * np.log10(band_power(y, 8000, 12000) / mid) > -9.5
    assert 10 * np.log10(band_power(y, 16500, 22050) / mid) < -45
    assert 10 * np.log10(band_power(y, 20, 300) / mid) < 17


def test_loud_events_are_turned_down_before_the_clipper_and_counted():
    env = hit_envelope([0.3, 1.0, 1.7], [0.6, 0.05, 0.6])  # far too loud for a short, peaky contact
    source = foley.ProceduralSource("wood", SR, np.random.default_rng(0))
    blocks, details = foley.render_foley(env, FR, SR, int(3.0 * SR), source, seed=0, reverb=0.0, room_tone_db=-60.0)
    y = np.concatenate(list(blocks), axis=1)
    assert np.abs(y).max() < foley.streams.SOFT_CLIP_KNEE  # never reaches the soft clipper (a quiet bed under it)
    assert details["limited_events"] == 2  # the two loud ones, not the quiet one


def test_streaming_does_not_depend_on_the_block_size():
    env = hit_envelope(np.arange(0.1, 3.9, 0.23), np.full(17, 0.1), duration_s=4.0)
    env[int(1.0 * FR) : int(2.0 * FR)] = 0.05  # a sustained scrape across a block border
    outs = [render(env, foley.ProceduralSource("gravel", SR, np.random.default_rng(3)), seed=3, block_s=b)[0]
            for b in (0.7, 5.0)]
    assert np.max(np.abs(outs[0] - outs[1])) < 1e-4


def test_editing_the_envelope_moves_and_removes_events():
    base = hit_envelope([0.5, 1.5], [0.2, 0.2])
    edited = hit_envelope([0.5, 2.5], [0.2, 0.2])  # the second hit moved from 1.5 s to 2.5 s
    outs = [render(e, foley.ProceduralSource("wood", SR, np.random.default_rng(0)), reverb=0.0)[0] for e in (base, edited)]
    level = lambda y, t: frame_levels(y.mean(axis=0), SR, FR, base.size)[int(t * FR)]  # noqa: E731
    assert level(outs[0], 1.51) > 10 * level(outs[1], 1.51)
    assert level(outs[1], 2.51) > 10 * level(outs[0], 2.51)


def test_bad_libraries(tmp_path, caplog):
    from data_catalog.errors import SonorizeInputError
    from tasks.library_tasks import sound_bank_task

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SonorizeInputError, match="no audio files"):
        sound_bank_task.fn(str(empty))
    silent = tmp_path / "silent"
    silent.mkdir()
    for i in range(2):
        sf.write(silent / f"s{i}.wav", np.zeros(SR, np.float32), SR)
    with pytest.raises(SonorizeInputError, match="no usable one-shots in 2 audio file"):
        sound_bank_task.fn(str(silent))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "broken.wav").write_bytes(b"RIFF not really a wave file")
    sf.write(mixed / "quiet.wav", np.zeros(SR, np.float32), SR)
    rng = np.random.default_rng(0)
    sf.write(mixed / "good.wav", np.concatenate([np.zeros(SR // 4), one_shot(rng, 0.5, 400)]).astype(np.float32), SR)
    with caplog.at_level(logging.WARNING):
        bank = sound_bank_task.fn(str(mixed))
    assert len(bank) == 1
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "broken.wav" in warned and "quiet.wav" in warned


def test_the_engine_renders_a_one_file_prompt_and_reports_its_source():
    from tasks.engines import create_synth_engine_from_config

    rng = np.random.default_rng(0)
    sample = np.concatenate([np.zeros(SR // 4)] + [one_shot(rng, 0.4, 500) for _ in range(3)])
    env = hit_envelope([0.3, 1.1, 2.0], [0.1, 0.2, 0.15])
    engine = create_synth_engine_from_config("foley", reverb=0.0)
    blocks, details = engine.render_blocks(env, FR, n_samples=3 * SR, sample_rate=SR, prompt=None,
                                           audio_prompt=sample, audio_prompt_rate=SR, seed=0)
    y = np.concatenate(list(blocks), axis=1)
    assert y.shape == (2, 3 * SR) and details["source"].startswith("sampler: 3 one-shots")
    assert np.max(np.abs(y)) <= 0.99


def test_level_map_restores_compressed_peaks():
    from folai_models.video2rms.level_map import apply_level_map, fit_level_map

    rng = np.random.default_rng(0)
    real = [np.abs(rng.standard_normal(5000)) ** 3 * 0.05 for _ in range(3)]
    predicted = [np.sqrt(r) * 0.1 for r in real]  # the same order, compressed dynamics
    knots = fit_level_map(predicted, real)
    mapped = apply_level_map(predicted[0], knots)
    assert np.all(np.diff([k[0] for k in knots]) > 0) and np.all(np.diff([k[1] for k in knots]) > 0)
    inside = (predicted[0] >= knots[0][0]) & (predicted[0] <= knots[-1][0])
    assert inside.sum() > 1000 and np.allclose(mapped[inside], real[0][inside], rtol=0.02)  # a power law: exact
    assert np.all(np.diff(mapped[np.argsort(predicted[0])]) >= 0)  # the order of the frames is kept
    assert np.array_equal(apply_level_map(predicted[0], []), predicted[0])


@pytest.mark.parametrize("options, message", [({"reverb": 1.5}, "reverb must be"), ({"reverb": -0.1}, "reverb must be"),
                                              ({"room_tone_db": 6.0}, "at most 0 dBFS"),
                                              ({"room_tone_db": float("nan")}, "at most 0 dBFS")])
def test_bad_engine_options_are_refused_before_any_video(options, message):
    from tasks.engines import create_synth_engine_from_config

    with pytest.raises(ValueError, match=message):
        create_synth_engine_from_config("foley", **options)
    create_synth_engine_from_config("foley", room_tone_db=-np.inf, reverb=0.0)  # off and dry are fine


def test_the_sampler_bed_is_the_recording_between_its_hits_at_its_own_level():
    """Soft touches between the hits belong to the bed (a recording is not silent between hits);
    the hits do not, and the bed's level re the hits is the recording's own."""
    rng = np.random.default_rng(3)
    y = 0.001 * rng.standard_normal(int(6.5 * SR))
    for k, t in enumerate(np.arange(0.3, 5.7, 0.6)):
        shot = one_shot(rng, 0.5, 400 + 30 * k)
        y[int(t * SR) : int(t * SR) + shot.size] += shot
        soft = one_shot(rng, 0.02, 2000, length_s=0.05)  # a touch 28 dB under the hits
        s0 = int((t + 0.45) * SR)
        y[s0 : s0 + soft.size] += soft
    bank = foley.analyse_recording(y.astype(np.float32), SR, "take")
    assert len(bank) >= 8 and bank.room_tone
    bed = np.concatenate(bank.room_tone)
    assert np.sqrt(np.mean(np.square(bed))) == pytest.approx(1.0, rel=1e-3)  # one scale for all regions
    recorded = bed * foley.loud_event_level(y.astype(np.float32), SR) * 10 ** (bank.room_tone_db[0] / 20)
    assert 0.0015 < np.sqrt(np.mean(np.square(recorded))) < 0.01  # at the recording's level: over its floor ...
    assert 0.012 < np.abs(recorded).max() < 0.1  # ... with the soft touches (peak 0.02), without the hits (0.5)


def test_a_room_tone_file_in_a_library_is_all_bed():
    rng = np.random.default_rng(4)
    air = (0.002 * rng.standard_normal(int(2 * SR))).astype(np.float32)
    bank = foley.analyse_recording(air, SR, "air")
    assert len(bank) == 0 and len(bank.room_tone) == 1 and bank.room_tone[0].size > 1.9 * SR


@pytest.mark.parametrize("hits", [True, False])
def test_digital_silence_in_a_recording_never_reaches_the_bed(hits):
    """A decoder's padding or a muted stretch is not room tone: the bed is never exactly zero."""
    rng = np.random.default_rng(6)
    y = 0.001 * rng.standard_normal(int(4 * SR))
    if hits:
        for t in (0.3, 1.3, 2.3):
            shot = one_shot(rng, 0.5, 500)
            y[int(t * SR) : int(t * SR) + shot.size] += shot
    y[int(3.0 * SR) :] = 0.0  # the last second is digital silence
    bank = foley.analyse_recording(y.astype(np.float32), SR, "padded")
    assert bank.room_tone and all(np.count_nonzero(r == 0) < 10 for r in bank.room_tone)
    if hits:
        source = foley.SamplerSource(bank, SR, None, np.random.default_rng(0))
        bed = source.room_tone_stream(np.random.default_rng(1)).read(10 * SR)
        assert np.count_nonzero(bed == 0) < 10


def test_splice_stream_plays_regions_whole_and_is_seamless_block_by_block():
    from folai_models.foley.streams import SPLICE_FADE_S, SpliceStream

    regions = [np.full(int(0.5 * SR), 0.1 * (k + 1), np.float32) for k in range(4)]
    whole = SpliceStream(regions, SR, np.random.default_rng(5)).read(3 * SR)
    stream = SpliceStream(regions, SR, np.random.default_rng(5))
    blocks = np.concatenate([stream.read(n) for n in (1000, 44100, 7, 50000, 3 * SR - 95107)])
    np.testing.assert_array_equal(blocks, whole)
    values = np.round(whole / 0.1).astype(int)
    plain = np.isin(values, [1, 2, 3, 4]) & np.isclose(whole, values * 0.1)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], plain.astype(int), [0]])))
    lengths = (edges[1::2] - edges[::2])[:-1]  # plain stretches (the last is cut by the read)
    assert plain.mean() > 0.9  # outside the crossfades, one region plays as recorded ...
    assert lengths.min() >= int(0.25 * SR) - 2 * int(SPLICE_FADE_S * SR)  # ... for at least half its length


def test_one_shots_ring_into_their_room_up_to_the_next_onset_and_only_decay():
    """A one-shot keeps its tail and the room after it until the next hit; a second hit inside it
    (too soft for the onset detector) is turned down, never a false onset."""
    rng = np.random.default_rng(7)
    y = 0.002 * rng.standard_normal(int(3.2 * SR))
    for t in (0.2, 1.7):
        shot = one_shot(rng, 0.6, 500, length_s=0.3)
        y[int(t * SR) : int(t * SR) + shot.size] += shot
    bump = one_shot(rng, 0.012, 3000, length_s=0.03)  # a touch at 0.9 s, 6 dB over the room
    y[int(0.9 * SR) : int(0.9 * SR) + bump.size] += bump
    bank = foley.analyse_recording(y.astype(np.float32), SR, "take")
    first = int(np.argmax(bank.durations_s))
    assert bank.durations_s[first] > 1.2  # 0.2 s -> 1.7 s: tail and room, not cut at the floor
    x = bank.one_shots[first] * 10 ** (bank.level_db[first] / 20)  # as recorded
    rms = foley.bank._frame_rms(x)
    after = rms[int(np.argmax(rms)) :]
    assert np.all(after <= np.minimum.accumulate(after) * 1.1)  # past the peak it only decays (the touch: x2)
    room = rms[int(0.5 * SR / foley.bank.ANALYSIS_HOP) : int(0.65 * SR / foley.bank.ANALYSIS_HOP)]
    assert 0.001 < float(np.median(room)) < 0.004  # ... and the room (RMS 0.002) is still there


def test_sampled_one_shots_stay_near_their_recorded_level(library):
    """A sampled hit plays at its recorded level turned toward the event's target by at most 6 dB (its
    timbre and room belong to that level); level_follow_db=inf gives exactly the target."""
    from tasks.library_tasks import sound_bank_task

    bank = sound_bank_task.fn(str(library))  # hits recorded at about -30 to -6 dBFS
    events = ((0.002, 0.0), (0.05, 1.0))  # (target level, intensity rank): far under the library's hits
    for follow in (6.0, np.inf):
        source = foley.SamplerSource(bank, SR, None, np.random.default_rng(0), level_follow_db=follow)
        for level, rank in events:
            shot = source.one_shot(level, rank, 0.5, np.random.default_rng(1))
            played_db = 20 * np.log10(level * foley.levels.window_level(shot, SR))  # the renderer's gain is level
            target_db, recorded_db = 20 * np.log10(level), bank.level_db[source.chosen[-1]]
            expected = target_db if np.isinf(follow) else np.clip(recorded_db, target_db - follow, target_db + follow)
            assert played_db == pytest.approx(expected, abs=0.5)
    with pytest.raises(ValueError, match="level_follow_db"):
        foley.SamplerSource(bank, SR, None, np.random.default_rng(0), level_follow_db=-1.0)


def test_a_touch_leading_into_a_hit_is_not_a_one_shot():
    """A segment whose loudest moment comes long after its onset (a scrape running into a hit the onset
    detector merged) would sound as a late second onset; a file of nothing but slow swells keeps them."""
    rng = np.random.default_rng(8)
    y = 0.001 * rng.standard_normal(int(4.0 * SR))
    ramp = np.linspace(0.0, 1.0, int(0.25 * SR)) ** 2
    for t in (0.4, 1.4, 2.4):
        shot = one_shot(rng, 0.5, 600, length_s=0.3)
        y[int(t * SR) : int(t * SR) + shot.size] += shot
        y[int(t * SR) - ramp.size : int(t * SR)] += 0.06 * ramp * rng.standard_normal(ramp.size)  # a scrape into it
    bank = foley.analyse_recording(y.astype(np.float32), SR, "hits")
    assert len(bank) >= 3 and all(np.argmax(foley.bank._frame_rms(x)) * foley.bank.ANALYSIS_HOP <= 0.05 * SR for x in bank.one_shots)
    # A lone swell: 0.4 s of rising noise, its peak far past the onset; it is all the file has, so it stays.
    t = np.arange(int(0.4 * SR)) / SR
    swell = np.zeros(int(1.5 * SR))
    swell[int(0.5 * SR) : int(0.5 * SR) + t.size] = 0.3 * (t / t[-1]) ** 2 * rng.standard_normal(t.size)
    lone = foley.analyse_recording((swell + 0.001 * rng.standard_normal(swell.size)).astype(np.float32), SR, "swell")
    assert len(lone) >= 1
