"""A killed run's temporary files are removed by the next run; a live writer's never (issue 16, item 6)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from data_catalog.atomic import is_temporary_name, remove_stale_temporaries
from fs_limits import subprocess_env

WRITER = """
import sys, time
from data_catalog.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half a video")
    print("writing", flush=True)
    time.sleep(120)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_only_a_dead_writers_temporary_is_removed(tmp_path):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "k2.foley.mp4")],
                              stdout=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        assert writer.stdout.readline().strip() == "writing"
        (temporary,) = [p for p in tmp_path.iterdir() if is_temporary_name(p.name)]
        assert remove_stale_temporaries(tmp_path) == [] and temporary.exists()  # alive: kept
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        assert temporary.exists()  # what a SIGKILL leaves
        (tmp_path / "k2.envelope.csv").write_text("time_s,rms\n")  # not a temporary: never touched
        assert remove_stale_temporaries(tmp_path) == [temporary]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["k2.envelope.csv"]
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
