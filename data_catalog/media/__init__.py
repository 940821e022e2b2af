"""Media I/O through the system ffmpeg: probe, frames, audio, mux."""

from data_catalog.media.audio import extract_audio, iter_audio_blocks, write_wav, write_wav_blocks
from data_catalog.media.frames import analysis_size, iter_frame_windows
from data_catalog.media.mux import mux_audio
from data_catalog.media.probe import VideoInfo, probe_media, probe_video, require_ffmpeg

__all__ = [
    "VideoInfo",
    "analysis_size",
    "extract_audio",
    "iter_audio_blocks",
    "iter_frame_windows",
    "mux_audio",
    "probe_media",
    "probe_video",
    "require_ffmpeg",
    "write_wav",
    "write_wav_blocks",
]
