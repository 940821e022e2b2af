"""Separated audio (AudioSep, SPEC stage 12), cached as WAV files keyed by content, query and weights.

Key: the sha256 of the file holding the source audio, the text query, the
separation weights' revision (a hash of the checkpoint) and the settings that
change the result (:attr:`SeparationKey.settings`). Layout::

    <root>/<key id>/<source sha256>.wav    44.1 kHz stereo, 24-bit
    <root>/<key id>/<source sha256>.json   the key, sample rate, channels, length, when

The JSON is written after the WAV, both atomically, and :meth:`SeparationCache.get`
checks them against each other: a half-finished, edited or foreign entry is a miss
(deleted; the caller separates again), never a wrong result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import soundfile as sf

from data_catalog.atomic import write_json_atomic
from data_catalog.errors import OptionError
from data_catalog.media.audio import write_wav_blocks
from data_catalog.settings import get_settings

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class SeparationKey:
    """What a separated file depends on."""

    source_sha256: str
    query: str
    weights_revision: str
    settings: str  # e.g. "32000hz-w5-o2-44100x2-v1": model rate, windows, output format, code version

    def __post_init__(self) -> None:
        if not _SHA256.fullmatch(self.source_sha256):
            raise ValueError(f"source_sha256 must be 64 lowercase hex digits, got {self.source_sha256!r}")
        if not self.query.strip():
            raise OptionError("the separation query is empty")

    @property
    def id(self) -> str:
        """Folder name shared by every file separated with the same query, weights and settings."""
        text = json.dumps([self.query, self.weights_revision, self.settings])
        return "sep-" + hashlib.sha256(text.encode()).hexdigest()[:16]


class SeparationCache:
    """Separated recordings on disk. ``root`` defaults to ``SONORIZE_CACHE_DIR/separated``."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else get_settings().cache_dir / "separated"

    def path_for(self, key: SeparationKey) -> Path:
        return self.root / key.id / f"{key.source_sha256}.wav"

    def get(self, key: SeparationKey) -> Path | None:
        """The cached WAV, or None (absent, or inconsistent: then logged and deleted)."""
        wav = self.path_for(key)
        sidecar = wav.with_suffix(".json")
        if not wav.is_file() or not sidecar.is_file():
            return None
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            info = sf.info(str(wav))
            ok = (meta.get("format_version") == FORMAT_VERSION and meta.get("key") == asdict(key)
                  and info.frames == meta.get("n_samples") and info.samplerate == meta.get("sample_rate")
                  and info.channels == meta.get("channels"))
        except (OSError, ValueError, RuntimeError) as error:
            ok, meta = False, {"error": str(error)}
        if ok:
            return wav
        log.warning("separation cache: %s does not match its sidecar; deleting it, it will be separated again", wav)
        for path in (wav, sidecar):
            try:
                path.unlink()
            except OSError:
                pass
        return None

    def put(self, key: SeparationKey, blocks: Iterable[np.ndarray], sample_rate: int, *, extra: dict | None = None) -> Path:
        """Write consecutive ``[channels, n]`` blocks as the entry for ``key`` (atomically); return the WAV."""
        wav = self.path_for(key)
        channels = []

        def counted() -> Iterable[np.ndarray]:
            for block in blocks:
                channels.append(block.shape[0])
                yield block

        n_samples = write_wav_blocks(wav, counted(), sample_rate)
        write_json_atomic(wav.with_suffix(".json"), {
            "format_version": FORMAT_VERSION, "key": asdict(key), "sample_rate": sample_rate,
            "channels": channels[0], "n_samples": n_samples,
            "created_at": datetime.now(timezone.utc).isoformat(), **(extra or {}),
        })
        return wav


__all__ = ["SeparationCache", "SeparationKey"]
