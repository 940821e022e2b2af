"""The input bucket end to end: a real Prefect server, process workers and moto's S3 server.

`prefect deploy --all` of the repo's prefect.yaml, `prefect deployment run
watch-bucket/watcher`, and the watcher's `sonorize/batch` runs, all executed by real process
workers reading and writing s3:// URLs on moto. The server and moto are the session's
(tests/conftest.py): tests here count only their own flow runs and undo what they add to the
server. Everything runs on loopback; every wait is bounded; every process started here is
killed at the end.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from live_servers import PREFECT, REPO_ROOT, kill_tree, tail
from media_factory import pattern_clip

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(420),
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH"),
]

POOL = "sonorize-cpu"
BUCKET = "sonorize-test"
OUTPUT_SUFFIXES = (".foley.wav", ".foley.mp4", ".envelope.csv", ".envelope.json", ".envelope.png",
                   ".labels.txt", ".record.json", ".owner.json")
RUN_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def stack(shared_prefect_server, shared_moto):
    """The session's Prefect server (both pools; `batch`, `watcher`, `nightly`) and moto with this file's bucket."""
    _s3(shared_moto).mkdir(BUCKET)
    return shared_prefect_server, shared_moto


def test_prefect_yaml_deploys_every_deployment_and_both_pools(stack):
    server, _ = stack
    with server.client() as client:
        shared_deployments = {d.id for d in client.read_deployments()}
    try:
        pools = subprocess.run(["bash", str(REPO_ROOT / "docker" / "work-pools.sh")], cwd=REPO_ROOT,
                               env={**server.env, "PREFECT": PREFECT, "GPU_SLOTS": "2"}, capture_output=True,
                               text=True, timeout=180)
        assert pools.returncode == 0, pools.stdout + pools.stderr
        out = server.cli("--no-prompt", "deploy", "--all", env={"SONORIZE_GPU_IMAGE": "sonorize-gpu:test"})
        assert "sonorize/batch" in out and "watch-bucket/watcher" in out, out[-3000:]
        with server.client() as client:
            deployments = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
            pools = {p.name: p.type for p in client.read_work_pools()}
            limits = {c.tag: c.concurrency_limit for c in client.read_concurrency_limits(limit=10, offset=0)}
    finally:  # the shared server as the other tests know it: no gpu limit, only the deployments it had
        with server.client() as client:
            if "gpu" in {c.tag for c in client.read_concurrency_limits(limit=50, offset=0)}:
                client.delete_concurrency_limit_by_tag("gpu")
            for deployment in client.read_deployments():
                if deployment.id not in shared_deployments:
                    client.delete_deployment(deployment.id)
    assert {"sonorize/batch", "sonorize/batch-gpu", "watch-bucket/watcher", "preprocess/preprocess",
            "benchmark/nightly", "train-video2rms/gpu", "train-controlnet/gpu"} <= set(deployments), \
        sorted(deployments)
    assert pools["sonorize-cpu"] == "process" and pools["sonorize-gpu"] == "docker" and limits["gpu"] == 2
    gpu_job = deployments["sonorize/batch-gpu"].job_variables
    assert gpu_job["image"] == "sonorize-gpu:test"
    assert gpu_job["container_create_kwargs"]["device_requests"][0]["capabilities"] == [["gpu"]]
    assert deployments["train-video2rms/gpu"].work_pool_name == "sonorize-gpu"
    assert deployments["train-controlnet/gpu"].work_pool_name == "sonorize-gpu"
    nightly = deployments["benchmark/nightly"]
    assert [s.schedule.cron for s in nightly.schedules] == ["30 3 * * *"] and nightly.schedules[0].active
    assert deployments["watch-bucket/watcher"].parameters["min_age_s"] == 30


def _s3(moto):
    import s3fs

    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": moto.endpoint}, key="sonorize-test",
                             secret="sonorize-test", skip_instance_cache=True)


def _worker_env(moto, tmp_path: Path) -> dict:
    return {**moto.env, "PYTHONPATH": str(REPO_ROOT), "SONORIZE_CATALOG_DIR": str(tmp_path / "catalog"),
            "SONORIZE_CACHE_DIR": str(tmp_path / "cache")}


def _run_watcher(server, prefix: str, **params) -> None:
    args = ["deployment", "run", "watch-bucket/watcher", "-p", f"input_url=s3://{BUCKET}/{prefix}/incoming"]
    for name, value in params.items():
        args += ["-p", f"{name}={json.dumps(value)}"]
    server.cli(*args)


def _make_videos(folder: Path, n_good: int, n_corrupt: int, seconds: float = 1.0) -> dict[str, Path]:
    """Tiny clips (64x48) named as keys; corrupt ones: a truncated MP4, text, empty."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for i in range(n_good):
        key = f"clip{i:02d}.mp4" if i % 4 else f"day{i % 3}/clip{i:02d}.mp4"  # some in sub-prefixes
        files[key] = pattern_clip(folder / f"good{i}.mp4", seconds=seconds, size="64x48", rate="15")
    corrupt = [b"", b"this is not a video\n", files[next(iter(files))].read_bytes()[:600]]
    for i in range(n_corrupt):
        (folder / f"bad{i}.mp4").write_bytes(corrupt[i % 3])
        files[f"broken{i}.mp4"] = folder / f"bad{i}.mp4"
    return files


def _outputs(fs, prefix: str) -> dict[str, list[str]]:
    """Output folder -> file names below <prefix>/outputs (batch records left out)."""
    folders: dict[str, list[str]] = {}
    for path in _safe_find(fs, f"{BUCKET}/{prefix}/outputs"):
        rel = path.split("/outputs/", 1)[1]
        if "/" in rel or not rel.startswith("sonorize-run-"):
            folder, _, name = rel.rpartition("/")
            folders.setdefault(folder, []).append(name)
    return folders


def test_watcher_processes_each_object_once_quarantines_corrupt_and_redoes_overwrites(stack, tmp_path):
    server, moto = stack
    fs, prefix, t0 = _s3(moto), "drop", time.monotonic()
    polls_before, batches_before = _run_ids(server, "watch-bucket"), _run_ids(server, "sonorize")
    # 5 good (two under sub-prefixes) and one of each corrupt kind: every case, few videos to decode.
    files = _make_videos(tmp_path / "media", n_good=5, n_corrupt=3)
    for key, local in files.items():
        fs.put_file(str(local), f"{BUCKET}/{prefix}/incoming/{key}")
    fs.put_file(str(files["clip01.mp4"]), f"{BUCKET}/{prefix}/incoming/../escape.mp4")  # a traversal key
    fs.pipe_file(f"{BUCKET}/{prefix}/incoming/uploading.mp4.part", b"half")  # an upload in progress

    worker_log = tmp_path / "worker.log"
    worker = server.start_worker(POOL, tmp_path, worker_log, env=_worker_env(moto, tmp_path))
    try:
        _run_watcher(server, prefix, min_age_s=0)
        server.wait_flow_runs_final("watch-bucket", 1, RUN_TIMEOUT_S, [worker_log], polls_before)
        batches = server.wait_flow_runs_final("sonorize", 1, RUN_TIMEOUT_S, [worker_log], batches_before)
        assert len(batches) == 1 and batches[0].state.is_failed(), batches  # 3 corrupt videos: an alerting state
        assert batches[0].state.message.startswith("3 of 8 videos failed: "), batches[0].state.message
        first_done = time.monotonic() - t0

        outputs = _outputs(fs, prefix)
        good = sorted(k.removesuffix(".mp4") for k in files if not k.startswith("broken"))
        assert sorted(outputs) == good, f"outputs: {sorted(outputs)}\n{tail(worker_log, 6000)}"
        for folder, names in outputs.items():
            stem = folder.rsplit("/", 1)[-1]
            assert sorted(names) == sorted(stem + s for s in OUTPUT_SUFFIXES), (folder, names)
            record = json.loads(fs.cat_file(f"{BUCKET}/{prefix}/outputs/{folder}/{stem}.record.json"))
            assert record["status"] == "ok" and record["video_path"].endswith(f"incoming/{folder}.mp4")
        reports = sorted(p.rsplit("/quarantine/", 1)[1] for p in _safe_find(fs, f"{BUCKET}/{prefix}/quarantine")
                         if p.endswith(".error.txt"))
        bad_keys = [r for r in reports if r.startswith("bad-keys/")]
        assert [r for r in reports if r not in bad_keys] == [f"broken{i}.mp4.error.txt" for i in range(3)], reports
        for i in range(3):  # the original is beside its report, byte for byte
            assert fs.cat_file(f"{BUCKET}/{prefix}/quarantine/broken{i}.mp4") == files[f"broken{i}.mp4"].read_bytes()
            text = fs.cat_file(f"{BUCKET}/{prefix}/quarantine/broken{i}.mp4.error.txt").decode()
            assert f"broken{i}.mp4" in text and "reason: " in text, text
        # The traversal key is quarantined under a safe name, never followed.
        assert len(bad_keys) == 1, reports
        bad_key_report = fs.cat_file(f"{BUCKET}/{prefix}/quarantine/{bad_keys[0]}").decode()
        assert "'../escape.mp4'" in bad_key_report and "traversal" in bad_key_report
        assert not [p for p in _safe_find(fs, f"{BUCKET}/{prefix}") if "escape" in p and "/incoming/" not in p]
        assert len(_safe_find(fs, f"{BUCKET}/{prefix}/sonorize-state/done")) == 9

        # A second poll finds nothing new: no batch run, no new claim. A fresh upload is left to settle.
        claims_before = _safe_find(fs, f"{BUCKET}/{prefix}/sonorize-state/claims")
        fs.put_file(str(files["clip02.mp4"]), f"{BUCKET}/{prefix}/incoming/late.mp4")
        _run_watcher(server, prefix, min_age_s=600)
        server.wait_flow_runs_final("watch-bucket", 2, RUN_TIMEOUT_S, [worker_log], polls_before)
        assert len(server.flow_runs("sonorize")) == len(batches_before) + 1
        assert _safe_find(fs, f"{BUCKET}/{prefix}/sonorize-state/claims") == claims_before

        # Overwrite one object with other content: processed again (and the settled upload too).
        new_clip = pattern_clip(tmp_path / "new.mp4", seconds=1.5, size="80x60", rate="15")
        fs.put_file(str(new_clip), f"{BUCKET}/{prefix}/incoming/clip01.mp4")
        # This batch fans its videos out to a local Dask cluster (one task per video).
        _run_watcher(server, prefix, min_age_s=0, batch_parameters={
            "envelope_engine": "preview", "synth_engine": "preview", "fan_out": "dask", "dask_workers": 2})
        server.wait_flow_runs_final("watch-bucket", 3, RUN_TIMEOUT_S, [worker_log], polls_before)
        batches = server.wait_flow_runs_final("sonorize", 2, RUN_TIMEOUT_S, [worker_log], batches_before)
        assert sorted(r.state.type.value for r in batches) == ["COMPLETED", "FAILED"], batches
        record = json.loads(fs.cat_file(f"{BUCKET}/{prefix}/outputs/clip01/clip01.record.json"))
        from data_catalog.hashing import sha256_file

        assert record["video_sha256"] == sha256_file(new_clip)
        assert sorted(_outputs(fs, prefix)) == sorted([*good, "late"])
        batch_records = [json.loads(fs.cat_file(p)) for p in _safe_find(fs, f"{BUCKET}/{prefix}/outputs")
                         if p.rsplit("/", 1)[-1].startswith("sonorize-run-")]
        dask_run = [r for r in batch_records if r["fan_out"] == "dask"]
        assert len(batch_records) == 2 and len(dask_run) == 1, [(r["fan_out"], r["n_videos"]) for r in batch_records]
        assert (dask_run[0]["n_videos"], dask_run[0]["n_ok"]) == (2, 2), dask_run[0]["videos"]
        assert len(_safe_find(fs, f"{BUCKET}/{prefix}/sonorize-state/done")) == 11
    finally:
        kill_tree(worker)
    print(f"8 objects through watcher + batch: {first_done:.1f} s; whole test {time.monotonic() - t0:.1f} s")


def test_killed_worker_mid_batch_every_video_once_no_partial_outputs(stack, tmp_path):
    server, moto = stack
    fs, prefix, t0 = _s3(moto), "crash", time.monotonic()
    # Enough 1 s videos that the kill lands mid-batch (2 done, 3 not) without waiting on long ones.
    files = _make_videos(tmp_path / "media", n_good=5, n_corrupt=0)
    for key, local in files.items():
        fs.put_file(str(local), f"{BUCKET}/{prefix}/incoming/{key}")
    done_prefix = f"{BUCKET}/{prefix}/sonorize-state/done"
    lease = {"min_age_s": 0, "lease_s": 6}
    runs_before = _run_ids(server, "sonorize")

    log_a, log_b = tmp_path / "worker-a.log", tmp_path / "worker-b.log"
    worker_a = server.start_worker(POOL, tmp_path, log_a, env=_worker_env(moto, tmp_path))
    try:
        _run_watcher(server, prefix, **lease)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline and len(_safe_find(fs, done_prefix)) < 2:
            time.sleep(0.2)
        n_done_at_kill = len(_safe_find(fs, done_prefix))
        assert 2 <= n_done_at_kill < len(files), f"{n_done_at_kill} done before the kill:\n{tail(log_a, 6000)}"
    finally:
        kill_tree(worker_a, signal.SIGKILL)  # the worker and its flow-run process, at once
    crashed_run = next(r for r in server.flow_runs("sonorize") if r.id not in runs_before)

    worker_b = server.start_worker(POOL, tmp_path, log_b, env=_worker_env(moto, tmp_path))
    try:
        time.sleep(lease["lease_s"] + 1)  # the dead run's lease runs out
        _run_watcher(server, prefix, **lease)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline and len(_safe_find(fs, done_prefix)) < len(files):
            time.sleep(0.5)
        server.wait_flow_runs_final("sonorize", 2, RUN_TIMEOUT_S, [log_a, log_b], runs_before)
    finally:
        kill_tree(worker_b)

    done = [json.loads(fs.cat_file(p)) for p in _safe_find(fs, done_prefix)]
    assert sorted(d["object"]["key"] for d in done) == sorted(files), (done, tail(log_b, 6000))
    assert all(d["status"] == "ok" for d in done), done
    outputs = _outputs(fs, prefix)
    assert sorted(outputs) == sorted(k.removesuffix(".mp4") for k in files)
    for folder, names in outputs.items():  # complete sets, no temporary or partial objects
        stem = folder.rsplit("/", 1)[-1]
        assert sorted(names) == sorted(stem + s for s in OUTPUT_SUFFIXES), (folder, names)
        wav = fs.cat_file(f"{BUCKET}/{prefix}/outputs/{folder}/{stem}.foley.wav")
        assert wav[:4] == b"RIFF" and int.from_bytes(wav[4:8], "little") + 8 == len(wav)
    assert not [p for p in _safe_find(fs, f"{BUCKET}/{prefix}") if p.endswith(".tmp")]
    # Exactly one successful finish per video: the takeover redid only the unfinished ones.
    claims = _safe_find(fs, f"{BUCKET}/{prefix}/sonorize-state/claims")
    retried = {p.split("/")[-2] for p in claims if p.endswith("000002.json")}
    assert 0 < len(retried) <= len(files) - n_done_at_kill
    assert server.read_flow_run(crashed_run.id).state.type.value == "CRASHED"
    print(f"kill and resume: {n_done_at_kill} done before the kill, {len(retried)} retried, "
          f"{time.monotonic() - t0:.1f} s")


def _run_ids(server, flow_name: str) -> set:
    """Ids of the flow's runs so far (the server is shared: a test counts only the runs it started)."""
    return {r.id for r in server.flow_runs(flow_name)}


def _safe_find(fs, path: str) -> list[str]:
    """A fresh listing (s3fs caches listings)."""
    fs.invalidate_cache()
    try:
        return fs.find(path)
    except FileNotFoundError:
        return []
