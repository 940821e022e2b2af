"""Claim records: each input object is processed exactly once, across restarts and watchers.

An object's identity is its key plus its content version (ETag and size on S3;
size and mtime on a local folder), so an object overwritten with new content is
a new object and is processed again. Under a *state* location:

``claims/<object id>/<attempt>.json``
    created with :meth:`Location.put_exclusive`: of concurrent claimers exactly
    one creates attempt N. A claim whose holder stopped heart-beating (its
    worker was killed) is taken over by creating attempt N+1, again exclusively.
``holders/<holder>.json``
    the holder's heartbeat (and its Prefect flow run id), rewritten while it works.
``done/<object id>.json``
    created exclusively once the object is finished (outputs written, or
    quarantined): a second finisher is refused, so there is never a duplicate.

Only the holder of the newest attempt writes outputs and the done record; it
re-checks that before finishing, so a holder that was presumed dead and then
woke up drops its work instead of finishing it twice.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from data_catalog.locations import Location, ObjectInfo

CLAIMS = "claims"
HOLDERS = "holders"
DONE = "done"


def object_id(info: ObjectInfo) -> str:
    """Stable id of one version of one object: sha256 of key, ETag and size."""
    text = f"{info.key}\n{info.etag}\n{info.size}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def new_holder() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Claim:
    """The right to process one object version, held by ``holder``."""

    object: ObjectInfo
    input_url: str
    attempt: int
    holder: str
    claimed_at: str = field(default_factory=lambda: _now().isoformat())

    @property
    def object_id(self) -> str:
        return object_id(self.object)

    def to_dict(self) -> dict:
        return {"object": self.object.to_dict(), "object_id": self.object_id, "input_url": self.input_url,
                "attempt": self.attempt, "holder": self.holder, "claimed_at": self.claimed_at}

    @classmethod
    def from_dict(cls, data: dict) -> "Claim":
        return cls(object=ObjectInfo.from_dict(data["object"]), input_url=data["input_url"],
                   attempt=int(data["attempt"]), holder=data["holder"], claimed_at=data["claimed_at"])


@dataclass
class StateSnapshot:
    """What a watcher sees in one poll: finished ids and the newest claim attempt per id."""

    done: set[str]
    attempts: dict[str, int]  # object id -> newest attempt number


class ClaimBook:
    """Claims, heartbeats and done records under one state location."""

    def __init__(self, state: Location):
        self.state = state

    # --- polling -------------------------------------------------------------------------------
    def snapshot(self) -> StateSnapshot:
        """Two listings (done, claims) answer every question of one poll."""
        done = {o.key.rsplit("/", 1)[-1].removesuffix(".json") for o in self.state.list(DONE)}
        attempts: dict[str, int] = {}
        for o in self.state.list(CLAIMS):
            parts = o.key.split("/")
            if len(parts) == 3 and parts[2].endswith(".json") and parts[2][:-5].isdigit():
                attempts[parts[1]] = max(attempts.get(parts[1], 0), int(parts[2][:-5]))
        return StateSnapshot(done=done, attempts=attempts)

    def read_claim(self, oid: str, attempt: int) -> Claim | None:
        try:
            return Claim.from_dict(json.loads(self.state.read_bytes(_claim_key(oid, attempt))))
        except (FileNotFoundError, ValueError, KeyError):
            return None

    # --- claiming ------------------------------------------------------------------------------
    def claim(self, info: ObjectInfo, input_url: str, holder: str, attempt: int = 1) -> Claim | None:
        """Create attempt ``attempt`` for this object version; None when someone else has it."""
        claim = Claim(object=info, input_url=input_url, attempt=attempt, holder=holder)
        created = self.state.put_exclusive(_claim_key(claim.object_id, attempt),
                                           json.dumps(claim.to_dict(), indent=2).encode())
        return claim if created else None

    def release(self, claim: Claim) -> None:
        """Give a claim back before any work started (e.g. the batch run could not be created)."""
        self.state.delete(_claim_key(claim.object_id, claim.attempt))

    def newest_attempt(self, oid: str) -> int:
        attempts = [int(o.key.rsplit("/", 1)[-1][:-5]) for o in self.state.list(f"{CLAIMS}/{oid}")
                    if o.key.endswith(".json") and o.key.rsplit("/", 1)[-1][:-5].isdigit()]
        return max(attempts, default=0)

    def is_done(self, oid: str) -> bool:
        return self.state.exists(f"{DONE}/{oid}.json")

    def holds(self, claim: Claim) -> bool:
        """True while ``claim`` is the newest attempt and the object is not finished."""
        return not self.is_done(claim.object_id) and self.newest_attempt(claim.object_id) == claim.attempt

    def mark_done(self, claim: Claim, status: str, detail: dict | None = None) -> bool:
        """Record the object as finished; False when it already was (nothing is overwritten)."""
        record = {**claim.to_dict(), "status": status, "finished_at": _now().isoformat(), **(detail or {})}
        return self.state.put_exclusive(f"{DONE}/{claim.object_id}.json",
                                        json.dumps(record, indent=2, default=str).encode())

    def read_done(self, oid: str) -> dict | None:
        try:
            return json.loads(self.state.read_bytes(f"{DONE}/{oid}.json"))
        except (FileNotFoundError, ValueError):
            return None

    # --- liveness ------------------------------------------------------------------------------
    def heartbeat(self, holder: str, flow_run_id: str | None = None) -> None:
        """Say that ``holder`` is alive now (rewrites its holder record)."""
        record = {"holder": holder, "flow_run_id": flow_run_id, "heartbeat_at": _now().isoformat()}
        self.state.put_bytes(f"{HOLDERS}/{holder}.json", json.dumps(record).encode())

    def read_holder(self, holder: str) -> dict | None:
        try:
            return json.loads(self.state.read_bytes(f"{HOLDERS}/{holder}.json"))
        except (FileNotFoundError, ValueError):
            return None

    def holder_silence_s(self, holder: str) -> float | None:
        """Seconds since the holder's last heartbeat (None: it never sent one)."""
        record = self.read_holder(holder)
        if not record or not record.get("heartbeat_at"):
            return None
        return (_now() - datetime.fromisoformat(record["heartbeat_at"])).total_seconds()


def _claim_key(oid: str, attempt: int) -> str:
    return f"{CLAIMS}/{oid}/{attempt:06d}.json"
