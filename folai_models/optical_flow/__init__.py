"""Optical flow between consecutive frames, and flow -> uint8 images (Video-Foley)."""
