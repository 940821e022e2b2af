"""Quarantine: a copy of an input that failed, with a readable error report beside it.

``incoming/clips/bad.mp4`` that cannot be used is copied to
``<quarantine>/clips/bad.mp4`` with ``<quarantine>/clips/bad.mp4.error.txt``
next to it. An object whose *key* is unsafe is never named after its key: it
goes to ``<quarantine>/bad-keys/<object id>`` and the report quotes the key.
The input itself is left where it is (sonorize never deletes user data); its
done record keeps it from being processed again until it is overwritten.
"""

from __future__ import annotations

from datetime import datetime, timezone

from data_catalog.locations import Location, ObjectInfo

REPORT_SUFFIX = ".error.txt"
BAD_KEYS_FOLDER = "bad-keys"


def quarantine_key(key: str, oid: str, key_is_safe: bool) -> str:
    """Where the copy goes below the quarantine prefix."""
    return key if key_is_safe else f"{BAD_KEYS_FOLDER}/{oid}"


def error_report(info: ObjectInfo, input_url: str, reason: str, *, run_id: str | None = None,
                 stage: str | None = None) -> str:
    """A plain-text report a person can read (``field: value`` lines, then what to do)."""
    lines = [
        "sonorize could not process this object.",
        "",
        f"object: {info.key!r}",
        f"input: {input_url}",
        f"reason: {reason}",
        f"stage: {stage or 'unknown'}",
        f"size: {info.size}",
        f"etag: {info.etag}",
        f"modified: {info.modified.isoformat()}",
        f"quarantined_at: {datetime.now(timezone.utc).isoformat()}",
        f"flow_run: {run_id or '-'}",
        "",
        "What to do: fix the file (or its name) and upload it again under the input prefix;",
        "a new upload is a new version and is processed again. This copy can be deleted.",
    ]
    return "\n".join(lines) + "\n"


def parse_report(text: str) -> dict[str, str]:
    """The ``field: value`` lines of a report (for tools and tests)."""
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        if sep and name and " " not in name:
            fields[name] = value
    return fields


def quarantine_object(source: Location, quarantine: Location, info: ObjectInfo, oid: str, reason: str, *,
                      key_is_safe: bool, run_id: str | None = None, stage: str | None = None) -> str:
    """Copy the object into quarantine, then write its report; return the report's key.

    The report is written last, so a report always has its original beside it.
    """
    target = quarantine_key(info.key, oid, key_is_safe)
    try:
        quarantine.copy_from(source, info.key, target)
    except FileNotFoundError:
        reason = f"{reason} (the object was deleted before it could be copied)"
    report = error_report(info, source.url, reason, run_id=run_id, stage=stage)
    quarantine.put_bytes(target + REPORT_SUFFIX, report.encode("utf-8"))
    return target + REPORT_SUFFIX
