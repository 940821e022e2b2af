"""Footsteps from video: pose ground contacts, camera-bob gait, step events and a step reference from audio."""
