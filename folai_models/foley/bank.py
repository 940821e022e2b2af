"""A sound bank: one-shots, sustained regions and room tone cut from recordings.

A sound designer's library (or one recording) is cut at its onsets into
one-shots that keep their natural tails and the room they ring into (up to
the next onset; a rise inside the tail, a second hit the onset detector
missed, is turned down so the tail only decays); stretches that stay
loud without a new onset are kept as sustained material (scrapes, rubs,
shuffles) and the quiet stretches between sounds as room tone. Every one-shot
is measured (level on the envelope's own scale, brightness, duration) so the
renderer can match it to an event's intensity.

Pure numpy / scipy / librosa / soxr: no file I/O. :func:`analyse_recording`
works on one decoded file; :func:`merge_banks` joins the per-file results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from folai_models.foley.levels import window_level
from folai_models.preview_synth.measure import EPS

BANK_VERSION = 5  # bump when the analysis changes: cached banks are recomputed
ANALYSIS_HOP = 256  # frame hop (samples at the bank rate) of the floor / activity analysis
ANALYSIS_FRAME = 1024  # frame length of that analysis (23 ms at 44.1 kHz)
FLOOR_PERCENTILE = 10.0  # the noise floor is this percentile of the frame RMS
FLOOR_MIN = 1e-5  # floor never below -100 dBFS (digitally silent files)
ONE_SHOT_MIN_DB = 20.0  # a one-shot's peak must stand this far above the floor
ONE_SHOT_MIN_S = 0.03  # shorter segments are not one-shots
ONE_SHOT_MAX_S = 2.0  # longest one-shot (its tail is faded out past this)
# A one-shot runs to the next onset: its tail and the room it rings into, never cut at the floor (cut
# tails, then a spliced bed, measured FAD-SFX 54.8 on greatest-hits-dev; whole tails 38.3: docs/REALISM.md).
# A hit peaks within 50 ms of its onset; a segment peaking later is a touch or scrape leading into a hit the
# onset detector merged, and sounds as a late second onset (dropping them removed 15 of the sampler's 23 false
# output onsets on greatest-hits-dev: docs/REALISM.md).
ONE_SHOT_PEAK_WITHIN_S = 0.05  # ... such segments are not one-shots (unless a file has nothing else)
TAIL_RISE_RATIO = 1.0  # past its peak a frame is turned down to the quietest frame before it x this: it only decays
PRE_ROLL_S = 0.002  # one-shots start this long before the detected onset (keeps the attack)
FADE_IN_S = 0.001  # fades at the cut points avoid clicks
FADE_OUT_S = 0.02
SUSTAIN_DB = 12.0  # sustained material stays this far above the floor ...
SUSTAIN_MIN_S = 0.3  # ... for at least this long ...
SUSTAIN_SKIP_ATTACK_S = 0.05  # ... and starts this long after its onset (no attack in a texture)
BED_BELOW_LOUD_DB = 12.0  # the bed: what stays this far below the loud frames (room, handling, soft touches) ...
BED_MIN_S = 0.1  # ... for at least this long (a quietest-stretch bed alone sounded 8-10 dB too clean: docs/REALISM.md)
BED_TRIM_S = 0.02  # trimmed at both ends (no attack or decay of a cut hit in the bed)
BRIGHTNESS_S = 0.05  # brightness: spectral centroid of the first 50 ms of a one-shot
LOUD_PERCENTILE = 90.0  # the room tone is set relative to the loud events (predicted envelopes miss soft ones)
MIN_PEAK = 1e-4  # a file whose peak is below this is silent


@dataclass
class SoundBank:
    """One-shots, sustained material and room tone, at one sample rate (mono float32).

    One-shots are stored at unit level (:func:`~folai_models.foley.levels.window_level`
    = 1); ``level_db`` keeps each one's level as recorded (dBFS on the
    envelope's scale), so loud events can get the loud ones.
    """

    sample_rate: int
    one_shots: list[np.ndarray] = field(default_factory=list)
    level_db: np.ndarray = field(default_factory=lambda: np.zeros(0))  # as recorded, dBFS
    brightness_hz: np.ndarray = field(default_factory=lambda: np.zeros(0))
    names: list[str] = field(default_factory=list)  # source file of each one-shot
    embeddings: np.ndarray | None = None  # (n_one_shots, d) sound embeddings, when measured
    sustained: list[np.ndarray] = field(default_factory=list)  # unit-RMS sustained regions
    room_tone: list[np.ndarray] = field(default_factory=list)  # unit-RMS quiet regions
    room_tone_db: np.ndarray = field(default_factory=lambda: np.zeros(0))  # each file's floor re its loud hits
    skipped: list[str] = field(default_factory=list)  # files that gave nothing usable, with the reason

    @property
    def durations_s(self) -> np.ndarray:
        return np.array([x.size / self.sample_rate for x in self.one_shots])

    def __len__(self) -> int:
        return len(self.one_shots)


def _frame_rms(y: np.ndarray) -> np.ndarray:
    """RMS of ANALYSIS_FRAME windows every ANALYSIS_HOP samples (frame k starts at k * hop)."""
    if y.size < ANALYSIS_FRAME:
        return np.array([np.sqrt(np.mean(np.square(y)))]) if y.size else np.zeros(0)
    c = np.concatenate([[0.0], np.cumsum(np.square(y, dtype=np.float64))])
    starts = np.arange(0, y.size - ANALYSIS_FRAME + 1, ANALYSIS_HOP)
    return np.sqrt(np.maximum(c[starts + ANALYSIS_FRAME] - c[starts], 0.0) / ANALYSIS_FRAME)


def _runs(mask: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_len]


def _fade(x: np.ndarray, sample_rate: int) -> np.ndarray:
    x = x.astype(np.float32, copy=True)
    n_in = min(x.size, int(FADE_IN_S * sample_rate))
    n_out = min(x.size, max(1, int(FADE_OUT_S * sample_rate)))
    if n_in > 1:
        x[:n_in] *= np.linspace(0.0, 1.0, n_in, endpoint=False, dtype=np.float32)
    x[-n_out:] *= np.linspace(1.0, 0.0, n_out, dtype=np.float32)
    return x


def _decaying(x: np.ndarray) -> tuple[np.ndarray, int]:
    """``x`` with every analysis frame past the loudest turned down to the quietest one before it
    (x :data:`TAIL_RISE_RATIO`): a second hit inside a tail would sound as a false onset; and the
    index of that loudest :func:`_frame_rms` frame (0 for a short ``x``).

    The gain is interpolated between frame centres (no steps).
    """
    frame_rms = _frame_rms(x)
    peak = int(np.argmax(frame_rms)) if frame_rms.size else 0
    if frame_rms.size < 3:
        return x, peak
    after = frame_rms[peak:]
    gain = np.ones(frame_rms.size)
    gain[peak:] = np.minimum(1.0, TAIL_RISE_RATIO * np.minimum.accumulate(after) / np.maximum(after, EPS))
    if np.all(gain == 1.0):
        return x, peak
    centres = np.arange(frame_rms.size) * ANALYSIS_HOP + ANALYSIS_FRAME // 2
    return (x * np.interp(np.arange(x.size), centres, gain)).astype(np.float32), peak


def _unit_rms(x: np.ndarray) -> np.ndarray:
    return (x / (np.sqrt(np.mean(np.square(x, dtype=np.float64))) + EPS)).astype(np.float32)


def _centroid(x: np.ndarray, sample_rate: int) -> float:
    n = min(x.size, max(64, int(BRIGHTNESS_S * sample_rate)))
    spectrum = np.abs(np.fft.rfft(x[:n] * np.hanning(n)))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    return float(np.sum(freqs * spectrum) / (np.sum(spectrum) + EPS))


def analyse_recording(y: np.ndarray, sample_rate: int, name: str = "") -> SoundBank:
    """Cut one mono recording into a :class:`SoundBank`.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono audio (any level).
    sample_rate : int
    name : str
        Where it came from (kept per one-shot: names steer selection by prompt).

    Returns
    -------
    SoundBank
        Possibly empty (``skipped`` then says why): a silent file, or one
        with no sound standing :data:`ONE_SHOT_MIN_DB` above its floor.
    """
    import librosa  # onset detection; imported lazily (slow first import)

    y = np.asarray(y, dtype=np.float32)
    bank = SoundBank(sample_rate=int(sample_rate))
    if y.size == 0 or float(np.max(np.abs(y))) < MIN_PEAK:
        bank.skipped.append(f"{name}: silent")
        return bank
    rms = _frame_rms(y)
    sounding = rms[rms > FLOOR_MIN]  # digital silence (padding, a muted stretch) is not the room's floor
    floor = max(float(np.percentile(sounding, FLOOR_PERCENTILE)) if sounding.size else 0.0, FLOOR_MIN)
    frame_time = lambda k: k * ANALYSIS_HOP  # noqa: E731  (frame index -> first sample)

    onsets = librosa.onset.onset_detect(y=y, sr=sample_rate, units="samples", backtrack=True)
    bounds = [*np.unique(np.asarray(onsets, dtype=np.int64)), y.size]
    max_len, min_len = int(ONE_SHOT_MAX_S * sample_rate), int(ONE_SHOT_MIN_S * sample_rate)
    pre = int(PRE_ROLL_S * sample_rate)
    shots, levels, late = [], [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        a = max(0, int(a) - pre)
        end = min(int(b), a + max_len)
        ka, kb = a // ANALYSIS_HOP, max(a // ANALYSIS_HOP + 1, (end - ANALYSIS_FRAME) // ANALYSIS_HOP + 1)
        seg_rms = rms[ka:kb]
        if seg_rms.size == 0 or seg_rms.max() < floor * 10 ** (ONE_SHOT_MIN_DB / 20) or end - a < min_len:
            continue
        shot, peak = _decaying(y[a:end])
        shot = _fade(shot, sample_rate)
        level = window_level(shot, sample_rate)
        if level <= EPS:
            continue
        shots.append(shot / level)
        levels.append(level)
        late.append(peak * ANALYSIS_HOP > ONE_SHOT_PEAK_WITHIN_S * sample_rate)
    if shots and not all(late):  # a file of slow swells keeps them: still a library
        shots, levels = [x for x, z in zip(shots, late) if not z], [v for v, z in zip(levels, late) if not z]
    if shots:
        bank.one_shots = shots
        bank.level_db = 20 * np.log10(np.asarray(levels))
        bank.brightness_hz = np.array([_centroid(s, sample_rate) for s in shots])
        bank.names = [name] * len(shots)
    else:
        bank.skipped.append(f"{name}: no sound stands {ONE_SHOT_MIN_DB:.0f} dB above its noise floor")

    onset_frames = set((np.asarray(onsets, dtype=np.int64) // ANALYSIS_HOP).tolist())
    skip = int(round(SUSTAIN_SKIP_ATTACK_S * sample_rate / ANALYSIS_HOP))
    for ka, kb in _runs(rms > floor * 10 ** (SUSTAIN_DB / 20), int(SUSTAIN_MIN_S * sample_rate / ANALYSIS_HOP)):
        if any(ka <= k < ka + skip for k in onset_frames) or ka == 0:
            ka += skip
        seg = y[frame_time(ka) : frame_time(kb) + ANALYSIS_FRAME]
        if seg.size >= int(SUSTAIN_MIN_S * sample_rate) // 2:
            bank.sustained.append(_unit_rms(seg))
    if shots:
        _add_bed(bank, y, rms)
    else:  # nothing stands out: a room-tone recording (a library's "air" file) is all bed
        bank.room_tone, _ = _one_scale(_bed_regions(y, rms > FLOOR_MIN, sample_rate))
    return bank


def _one_scale(regions: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """``regions`` divided by their pooled RMS (relative levels kept), and that RMS (0 for none)."""
    if not regions:
        return [], 0.0
    pooled = float(np.sqrt(np.mean(np.square(np.concatenate(regions), dtype=np.float64))))
    return [(r / pooled).astype(np.float32) for r in regions], pooled


def _bed_regions(y: np.ndarray, frames: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    """The stretches of ``y`` under runs of True ``frames`` at least :data:`BED_MIN_S` long, trimmed."""
    trim = int(BED_TRIM_S * sample_rate)
    regions = [y[ka * ANALYSIS_HOP + trim : kb * ANALYSIS_HOP + ANALYSIS_FRAME - trim]
               for ka, kb in _runs(frames, int(BED_MIN_S * sample_rate / ANALYSIS_HOP))]
    regions = [np.trim_zeros(r) for r in regions]  # a frame over the edge of digital silence
    return [r for r in regions if r.size > 2 * trim]


def _add_bed(bank: SoundBank, y: np.ndarray, rms: np.ndarray) -> None:
    """The recording between its loud hits, as room tone, with its level re those hits.

    The regions share one scale (their pooled RMS is 1), so the bed keeps the
    recording's own swell of soft touches over its floor; ``room_tone_db``
    is that RMS re the loud events measured as the renderer measures an
    envelope's events, so the bed sits under rendered events as it sat
    under the recorded ones.
    """
    from folai_models.foley.render import loud_event_level  # the renderer imports this module

    quiet = rms < float(np.percentile(rms, LOUD_PERCENTILE)) * 10 ** (-BED_BELOW_LOUD_DB / 20)
    quiet &= rms > FLOOR_MIN  # never digital silence (a decoder's padding, a muted stretch) in the bed
    regions, pooled = _one_scale(_bed_regions(y, quiet, bank.sample_rate))
    loud = loud_event_level(y, bank.sample_rate) if regions else 0.0
    if loud <= EPS:
        return
    bank.room_tone = regions
    bank.room_tone_db = np.array([20 * np.log10(pooled / loud)])


def merge_banks(banks: list[SoundBank]) -> SoundBank:
    """Join per-file banks (same sample rate) into one."""
    if not banks:
        raise ValueError("no banks to merge")
    rates = {b.sample_rate for b in banks}
    if len(rates) != 1:
        raise ValueError(f"banks of different sample rates: {sorted(rates)}")
    out = SoundBank(sample_rate=rates.pop())
    for b in banks:
        out.one_shots += b.one_shots
        out.names += b.names
        out.sustained += b.sustained
        out.room_tone += b.room_tone
        out.skipped += b.skipped
    out.level_db = np.concatenate([b.level_db for b in banks])
    out.brightness_hz = np.concatenate([b.brightness_hz for b in banks])
    out.room_tone_db = np.concatenate([b.room_tone_db for b in banks])
    if all(b.embeddings is not None for b in banks if len(b)):
        parts = [b.embeddings for b in banks if len(b)]
        out.embeddings = np.concatenate(parts) if parts else None
    return out
