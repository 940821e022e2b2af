"""The ``watch-bucket`` flow: poll an input prefix, claim new videos, start ``sonorize/batch`` runs.

Deployed as ``watch-bucket/watcher`` on an interval schedule. Each poll lists
the input prefix once and the claim state twice, then for every object:

- hidden names and uploads in progress (``.part``, ``.tmp``...) are left alone;
- an object modified less than ``min_age_s`` ago is left for a later poll
  (a local file still being copied keeps changing; on S3 an object only
  appears once its upload is complete, and an early pick-up of a file that
  then changes is a new version, processed again);
- an unsafe key is claimed and quarantined here, never followed;
- a new object version (key + ETag + size) is claimed exclusively;
- a claim whose holder stopped heart-beating for ``lease_s`` (its worker was
  killed) is taken over, and the dead flow run is marked Crashed.

New claims are grouped into batches of at most ``max_batch`` and each batch
becomes one ``sonorize/batch`` flow run (one process per batch, so the
orchestration cost is paid per batch, not per video).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, get_run_logger

from data_catalog.bucket_keys import BadKeyError, is_pending_or_hidden, validate_key
from data_catalog.claims import Claim, ClaimBook, new_holder, object_id
from data_catalog.errors import LocationError, OptionError
from data_catalog.locations import Location, ObjectInfo
from flows.deployment_settings import WATCHER_VARIABLES, setting
from flows.inputs import VIDEO_EXTENSIONS
from flows.per_item import run_logger
from flows.run_ids import flow_run_id
from flows.run_logging import quiet_input_error_tracebacks
from tasks.bucket_tasks import quarantine_object_task

BATCH_DEPLOYMENT = "sonorize/batch"
WAITING_STATES = frozenset({"SCHEDULED", "PENDING", "PAUSED"})  # queued for a worker: alive, not late


def sibling(url: str, name: str) -> str:
    """``s3://b/incoming`` -> ``s3://b/<name>`` (default output, quarantine and state prefixes)."""
    parent = url.rstrip("/").rpartition("/")[0]
    return f"{parent}/{name}" if parent else name


@flow(name="watch-bucket", log_prints=True)
def watch_bucket(
    input_url: str | None = None,
    output_url: str | None = None,
    quarantine_url: str | None = None,
    state_url: str | None = None,
    min_age_s: float = 30.0,
    lease_s: float = 300.0,
    max_batch: int = 50,
    max_attempts: int = 3,
    batch_deployment: str = BATCH_DEPLOYMENT,
    batch_parameters: dict | None = None,
) -> dict:
    """Claim the new videos under ``input_url`` and start a ``sonorize/batch`` run per batch.

    Parameters
    ----------
    input_url : the input prefix (``s3://bucket/incoming`` or an absolute folder); null: the
        Prefect Variable ``sonorize_input_url`` (``prefect variable set sonorize_input_url URL``).
    output_url : where outputs go, same relative names; null: the Prefect Variable
        ``sonorize_output_url``, else ``<parent>/outputs``.
    quarantine_url : failed inputs and their reports (default: ``<parent>/quarantine``).
    state_url : claim, heartbeat and done records (default: ``<parent>/sonorize-state``).
    min_age_s : an object modified more recently than this is left for a later poll.
    lease_s : a claim whose run sent no heartbeat for this long is taken over (its run
        beats every ``lease_s / 4``); keep it well above a worker's start-up time.
    max_batch : most videos per batch run.
    max_attempts : batch runs that may die holding an object before it is quarantined instead.
    batch_deployment : the deployment that processes a batch.
    batch_parameters : more parameters for every batch run (engines, prompt, fan_out...).

    Returns
    -------
    Counts per outcome and the ids of the batch runs started.
    """
    logger = get_run_logger()
    quiet_input_error_tracebacks()
    input_url = setting(input_url, "input_url", WATCHER_VARIABLES, flow="watch-bucket", example="s3://BUCKET/incoming")
    output_url = setting(output_url, "output_url", WATCHER_VARIABLES, flow="watch-bucket",
                         example="s3://BUCKET/outputs", required=False) or sibling(input_url, "outputs")
    quarantine_url = quarantine_url or sibling(input_url, "quarantine")
    state_url = state_url or sibling(input_url, "sonorize-state")
    root = input_url.rstrip("/") + "/"
    inside = [u for u in (output_url, quarantine_url, state_url) if u.rstrip("/").startswith(root)]
    if inside:  # the watcher would pick up its own outputs as new videos
        raise OptionError(f"{inside} lie inside the input prefix {input_url}: use sibling prefixes")
    source, state = _reachable(input_url), _reachable(state_url, must_exist=False)
    book = ClaimBook(state)
    watcher_run = flow_run_id()
    snapshot = book.snapshot()
    now = datetime.now(timezone.utc)
    counts = {"seen": 0, "done": 0, "pending_upload": 0, "not_video": 0, "settling": 0, "in_progress": 0,
              "claimed": 0, "taken_over": 0, "quarantined_keys": 0, "given_up": 0, "lost_race": 0}
    claimed: list[Claim] = []
    holder, in_batch = new_holder(), 0

    for info in source.list():
        counts["seen"] += 1
        oid = object_id(info)
        if oid in snapshot.done:
            counts["done"] += 1
            continue
        if is_pending_or_hidden(info.key):
            counts["pending_upload"] += 1
            continue
        try:
            validate_key(info.key)
        except BadKeyError as exc:
            _quarantine(book, source, Location(quarantine_url), info, 1, watcher_run, logger, str(exc), "key")
            counts["quarantined_keys"] += 1
            continue
        if Path(info.key).suffix.lower() not in VIDEO_EXTENSIONS:
            counts["not_video"] += 1
            continue
        if info.age_s(now) < min_age_s:
            counts["settling"] += 1
            continue
        attempt = snapshot.attempts.get(oid, 0)
        if attempt and _holder_alive(book, book.read_claim(oid, attempt), lease_s, logger):
            counts["in_progress"] += 1
            continue
        if in_batch >= max_batch:
            holder, in_batch = new_holder(), 0
        if attempt >= max_attempts:  # its runs keep dying on it: stop retrying, say why
            _quarantine(book, source, Location(quarantine_url), info, attempt + 1, watcher_run, logger,
                        f"{source.url_of(info.key)}: {attempt} batch runs stopped without finishing it "
                        "(worker killed, out of memory, or a failing flow run); see their logs", "retries")
            counts["given_up"] += 1
            continue
        claim = book.claim(info, source.url, holder, attempt + 1)
        if claim is None:  # another watcher got it first
            counts["lost_race"] += 1
            continue
        counts["taken_over" if attempt else "claimed"] += 1
        claimed.append(claim)
        in_batch += 1

    runs = _start_batches(book, claimed, output_url, quarantine_url, state_url, lease_s, batch_deployment,
                          batch_parameters or {}, logger)
    logger.info("watch-bucket %s: %s; %d batch run(s) started", input_url, counts, len(runs))
    return {"input_url": input_url, "output_url": output_url, "quarantine_url": quarantine_url,
            "state_url": state_url, "counts": counts, "batch_runs": runs}


def _reachable(url: str, must_exist: bool = True) -> Location:
    """The location, listed once: a store that cannot be reached is one line naming it and why."""
    try:
        location = Location(url)
        top = location.root if location.is_local else location.root.split("/", 1)[0]
        if location.is_local and not must_exist:
            return location  # created on first write
        location.fs.ls(top)  # a folder, or the bucket's first level
        return location
    except ImportError as exc:
        raise LocationError(url, f"this store needs a package that is not installed ({exc}); "
                                 "s3:// URLs: pip install -e '.[s3]'") from None
    except FileNotFoundError:
        raise LocationError(url, "no such folder" if "://" not in url else
                            f"bucket {url.split('://', 1)[1].split('/', 1)[0]!r} does not exist") from None
    except Exception as exc:
        raise LocationError(url, _unreachable_reason(exc)) from None


def _unreachable_reason(exc: Exception) -> str:
    if type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
        return ("no credentials for the store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
                "AWS_ENDPOINT_URL for MinIO or another S3-compatible store) in the worker's environment")
    if isinstance(exc, PermissionError):
        return f"access denied ({exc})"
    return f"cannot list it ({type(exc).__name__}: {exc})"


def _start_batches(book: ClaimBook, claims: list[Claim], output_url: str, quarantine_url: str, state_url: str,
                   lease_s: float, deployment: str, extra: dict, logger) -> list[str]:
    from prefect.deployments import run_deployment

    by_holder: dict[str, list[Claim]] = {}
    for claim in claims:
        by_holder.setdefault(claim.holder, []).append(claim)
    runs = []
    for holder, batch in by_holder.items():
        book.heartbeat(holder)  # the lease counts from now, until the batch run beats itself
        parameters = {**extra, "paths": [], "out_dir": output_url, "quarantine_dir": quarantine_url,
                      "state_dir": state_url, "claims": [c.to_dict() for c in batch],
                      "heartbeat_s": max(1.0, lease_s / 4)}
        try:
            run = run_deployment(deployment, parameters=parameters, timeout=0, as_subflow=False,
                                 idempotency_key=holder, flow_run_name=f"bucket-{holder[:8]}-{len(batch)}")
        except Exception:
            for claim in batch:  # nothing started: give the objects back to the next poll
                book.release(claim)
            raise
        book.heartbeat(holder, str(run.id))
        logger.info("batch run %s: %d video(s)", run.id, len(batch))
        runs.append(str(run.id))
    return runs


def _holder_alive(book: ClaimBook, claim: Claim | None, lease_s: float, logger) -> bool:
    """Is the newest claim on an object still being worked on (or waiting for a worker)?"""
    if claim is None:  # unreadable claim record: leave it for the next poll
        return True
    silence = book.holder_silence_s(claim.holder)
    if silence is None:  # the watcher that claimed it has not started the run yet
        claimed_at = datetime.fromisoformat(claim.claimed_at)
        return (datetime.now(timezone.utc) - claimed_at).total_seconds() < lease_s
    if silence < lease_s:
        return True
    flow_run_id = (book.read_holder(claim.holder) or {}).get("flow_run_id")
    state = _flow_run_state(flow_run_id)
    if state in WAITING_STATES:
        return True
    if state == "RUNNING":
        _mark_crashed(flow_run_id, f"no heartbeat for {silence:.0f} s (lease {lease_s:.0f} s): its claims "
                                   "were taken over by another run")
    logger.warning("claim on %s taken over: run %s silent for %.0f s (state %s)", claim.object.key,
                   flow_run_id, silence, state)
    return False


def _flow_run_state(flow_run_id: str | None) -> str | None:
    if not flow_run_id:
        return None
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(flow_run_id)
    except Exception as exc:  # the API's transport and not-found errors differ between Prefect versions
        run_logger().warning("could not read flow run %s: %s", flow_run_id, exc)
        return None
    return run.state.type.value if run.state else None


def _mark_crashed(flow_run_id: str, message: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run_id, Crashed(message=message), force=True)
    except Exception as exc:
        run_logger().warning("could not mark flow run %s crashed: %s", flow_run_id, exc)


def _quarantine(book: ClaimBook, source: Location, quarantine: Location, info: ObjectInfo, attempt: int,
                run_id: str | None, logger, reason: str, stage: str) -> None:
    """Claimed, copied to quarantine (a bad key under a safe name) with a report, marked done: once."""
    claim = book.claim(info, source.url, f"watcher-{run_id or new_holder()}", attempt)
    if claim is None:
        return
    report = quarantine_object_task(source.url, quarantine.url, info, claim.object_id, reason,
                                    key_is_safe=stage != "key", run_id=run_id, stage=stage)
    book.mark_done(claim, "quarantined", {"error": reason, "quarantine_report": quarantine.url_of(report)})
    logger.warning("quarantined %r: %s", info.key, reason)
