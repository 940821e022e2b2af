"""Neural synthesis (SPEC stage 10, FolAI IV-D): Stable Audio Open with a DiT ControlNet on the envelope.

Needs the ``synth`` extra (stable-audio-tools, installed with --no-deps by setup.sh).
"""
