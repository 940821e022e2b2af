"""The preview engine: weight-free, CPU, fast envelope-to-audio synthesis.

Renders 44.1 kHz stereo audio whose RMS envelope follows a target RMS
envelope (the output of the envelope stage, or one a user drew or extracted
from any audio). It stands in for the neural synthesis engines, behind the
same call: envelope in, audio out.

How it works
------------
1. **Carrier.** The envelope is segmented into events
   (:func:`folai_models.events.envelope_events`). Each event gets one impact
   grain at its attack, scaled to the envelope's local peak and panned a
   little. Sustained sections (events longer than :data:`SUSTAIN_MIN_S`, or
   plateaus where the envelope stays within :data:`PLATEAU_RATIO` for that
   long) get the sustained texture at full level; every other non-silent
   frame gets a quiet texture "bed" (:data:`TEXTURE_BED_LEVEL`) so that tails
   and slow fades always have material to shape. Grains and textures come
   from a procedural material (:mod:`folai_models.materials`) or from a
   user's audio prompt (cut into grains at its own onsets; granulated for
   textures).
2. **Envelope-following gain.** The carrier's RMS is measured exactly like
   the envelope stage measures it (mono, 16 kHz, frame 512, frame ``i``
   centred at ``(i + 0.5) / frame_rate``). With the squared gain linear
   between frame centres, every frame's energy is linear in the per-frame
   squared gains, so the gain is a banded least-squares fit of the target
   (relative error, a small smoothness penalty, bounded by
   :data:`MAX_GAIN`, refined by non-negative multiplicative updates), then
   interpolated to the sample rate. Frames where the target is silent
   (< 0.01) get gain 0, so silence in gives silence out (only the 32 ms
   window's reach next to a loud frame leaks, as it would for a real sound).
3. **Peak limiter.** A look-ahead gain (sliding minimum, then moving average
   of the gain each sample needs) keeps every sample <= :data:`PEAK_LIMIT`
   without hard clipping: the gain never exceeds what a sample needs and
   changes smoothly over :data:`LIMITER_WINDOW_S`. It only acts where the
   target asks for more level than the headroom allows (loud, spiky
   sections); there the output's envelope is lower than the target.

Stereo is mid/side: the mono downmix (mean of the channels) is exactly the
carrier the gain was fitted on; the side signal is an independently seeded
texture (decorrelated), and each event gets a small random balance pan.

Pure numpy/scipy/soxr/librosa: no file I/O, no Prefect.
"""

from __future__ import annotations

from folai_models.preview_synth.limiter import PEAK_LIMIT
from folai_models.preview_synth.measure import envelope_rms
from folai_models.preview_synth.render import N_CHANNELS, render_from_envelope

__all__ = [
    "envelope_rms",
    "render_from_envelope",
]
