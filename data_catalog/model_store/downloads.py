"""Fetching weights: urllib for URLs (streamed, hashed, atomically renamed), hf_hub_download for hubs.

Only ``ModelStore.pull`` calls into this module; nothing downloads at run time.
"""

from __future__ import annotations

import contextlib
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from data_catalog.atomic import atomic_path
from data_catalog.model_store.errors import WeightDownloadError, WeightHashMismatchError
from data_catalog.model_store.file_hashes import CHUNK_BYTES, Digests, Hasher
from data_catalog.model_store.registry import HubRepo, WeightFile

# progress: True (a rich bar on stderr), False (silent) or a callback(done_bytes, total_bytes or None)
Progress = bool | Callable[[int, int | None], None]

NO_NETWORK_HINT = ("this machine may have no network: pull on one that has, then copy the model "
                   "directory here (or point SONORIZE_MODEL_DIR at a copy)")
TIMEOUT_S = 60.0


@contextlib.contextmanager
def progress_reporter(progress: Progress, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n_bytes)``; draws a rich download bar when ``progress`` is True."""
    if callable(progress):
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            progress(done, total)

        yield advance
        return
    if not progress:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress as RichProgress, TextColumn,
                               TimeRemainingColumn, TransferSpeedColumn)

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with RichProgress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def expected_mismatch(wf: WeightFile, digests: Digests, recorded_sha256: str | None = None) -> tuple[str, str, str] | None:
    """(kind, expected, actual) for the first check ``digests`` fails, or None when all pass."""
    if wf.size is not None and digests.size != wf.size:
        return "size", f"{wf.size} bytes", f"{digests.size} bytes"
    sha = wf.sha256 or recorded_sha256
    if sha and digests.sha256 != sha.lower():
        return "sha256", sha.lower(), digests.sha256
    if wf.sha256_prefix and not digests.sha256.startswith(wf.sha256_prefix.lower()):
        return "sha256 prefix", wf.sha256_prefix.lower(), digests.sha256[: len(wf.sha256_prefix)]
    if wf.md5 and digests.md5 != wf.md5.lower():
        return "md5", wf.md5.lower(), digests.md5
    return None


def download_url(url: str, dest: Path, wf: WeightFile, *, name: str, progress: Progress = True) -> Digests:
    """Stream ``url`` into a temporary file beside ``dest``, check it, then rename it into place.

    Raises
    ------
    WeightDownloadError
        The server could not be reached or answered with an error.
    WeightHashMismatchError
        The bytes differ from the registry's size or hashes; nothing is left behind.
    """
    with atomic_path(dest) as tmp:  # on any error the partial file goes
        hasher = Hasher()
        request = urllib.request.Request(url, headers={"User-Agent": "sonorize-model-store"})
        try:
            with open(tmp, "wb") as out, urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else wf.size
                with progress_reporter(progress, f"{name}: {dest.name}", total) as advance:
                    while chunk := response.read(CHUNK_BYTES):
                        out.write(chunk)
                        hasher.update(chunk)
                        advance(len(chunk))
        except urllib.error.HTTPError as exc:
            hint = " (it may need a login or have moved)" if exc.code in (401, 403, 404) else ""
            raise WeightDownloadError(url, f"could not download {name!r}: HTTP {exc.code} {exc.reason}{hint}") from exc
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WeightDownloadError(url, f"could not download {name!r}: {reason}; {NO_NETWORK_HINT}") from exc
        digests = hasher.digests()
        if length and length.isdigit() and digests.size != int(length):
            raise WeightDownloadError(url, f"download of {name!r} stopped after {digests.size} of {length} bytes; "
                                           "run the pull again")
        mismatch = expected_mismatch(wf, digests)
        if mismatch is not None:
            raise WeightHashMismatchError(url, *mismatch, name=name)
    return digests


def download_hf(hub: HubRepo, filename: str, cache_dir: Path, *, name: str, progress: Progress = True,
                force_download: bool = False, endpoint: str | None = None) -> Path:
    """``hf_hub_download`` into the store's hub cache (its own temp file and rename); return the snapshot path.

    ``endpoint`` overrides the Hub address (a mirror); default: ``HF_ENDPOINT`` or huggingface.co.
    """
    try:
        import huggingface_hub
        from huggingface_hub import constants, errors
    except ImportError as exc:
        raise WeightDownloadError(None, f"pulling {name!r} needs huggingface_hub: pip install 'sonorize[video]'") from exc
    if constants.HF_HUB_OFFLINE:
        raise WeightDownloadError(hub.web_url, f"cannot pull {name!r}: HF_HUB_OFFLINE is set in this process; "
                                               "unset HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE and run the pull again")
    toggled = not progress and not huggingface_hub.utils.are_progress_bars_disabled()
    if toggled:
        huggingface_hub.utils.disable_progress_bars()
    try:
        path = huggingface_hub.hf_hub_download(
            repo_id=hub.repo_id, filename=filename, revision=hub.revision, repo_type=hub.repo_type,
            cache_dir=str(cache_dir), force_download=force_download, endpoint=endpoint)
    except errors.GatedRepoError as exc:
        raise WeightDownloadError(hub.web_url, f"{name!r} is gated: accept its licence at {hub.web_url} and log in "
                                               "(`hf auth login` or HF_TOKEN), then pull again") from exc
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.EntryNotFoundError) as exc:
        if isinstance(exc, errors.LocalEntryNotFoundError):
            raise WeightDownloadError(hub.web_url, f"could not reach the Hugging Face Hub for {name!r}; "
                                                   f"{NO_NETWORK_HINT}") from exc
        raise WeightDownloadError(hub.web_url, f"{name!r}: {filename} at revision {hub.revision} is not on the Hub "
                                               f"({type(exc).__name__}); the registry entry needs updating") from exc
    except errors.HfHubHTTPError as exc:
        raise WeightDownloadError(hub.web_url, f"could not download {name!r}: {exc}") from exc
    except (OSError, ConnectionError) as exc:
        raise WeightDownloadError(hub.web_url, f"could not download {name!r}: {exc}; {NO_NETWORK_HINT}") from exc
    except Exception as exc:  # httpx/requests transport errors differ between hub versions
        if type(exc).__module__.split(".")[0] in ("httpx", "httpcore", "requests", "urllib3"):
            raise WeightDownloadError(hub.web_url, f"could not download {name!r}: {exc}; {NO_NETWORK_HINT}") from exc
        raise
    finally:
        if toggled:
            huggingface_hub.utils.enable_progress_bars()
    return Path(path)
