"""Pipeline tasks (tasks/_options.py): plain calls outside a run, cached Prefect tasks inside one;
options as values (flows/video_options.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from flows.video_options import VideoContext, VideoOptions
from tasks._options import PipelineTask, cache_key, file_identity

# the record's options before options became values: the same keys, in the same order
PUBLIC_KEYS = ["envelope_engine", "synth_engine", "prompt", "audio_prompt", "seed", "audio_prompt_sha256", "encoder",
               "room_tone_db", "reverb", "init_noise_level", "steps", "cfg_scale", "sampler", "candidates"]


def test_options_are_a_frozen_value():
    options = VideoOptions(envelope_engine="preview", seed=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.seed = 4
    changed = dataclasses.replace(options, fingerprint="abc")
    assert (options.fingerprint, changed.fingerprint, changed.seed) == ("", "abc", 3)
    assert options == VideoOptions(envelope_engine="preview", seed=3) and options != changed
    assert list(options.public()) == PUBLIC_KEYS
    assert list(dataclasses.replace(options, flow="opencv").public()) == [*PUBLIC_KEYS, "flow"]


def test_the_context_prepares_the_audio_prompt_once(tmp_path, monkeypatch):
    import flows.video_options as video_options

    calls = []
    monkeypatch.setattr(video_options, "load_audio_prompt_task", lambda path: calls.append(path) or (np.zeros(4), 44100))
    context = VideoContext()
    options = VideoOptions(synth_engine="preview", audio_prompt=str(tmp_path / "clap.wav"))
    assert context.prompt_audio(options)[1] == 44100
    assert context.prompt_audio(options)[1] == 44100
    assert calls == [str(tmp_path / "clap.wav")]
    assert context.prompt_audio(VideoOptions()) == (None, None)
    with pytest.raises(ValueError, match="a folder of sounds needs"):
        context.prompt_audio(VideoOptions(synth_engine="preview", audio_prompt=str(tmp_path)))


def test_single_file_steps_do_not_import_prefect():
    code = ("import sys, flows.api, flows.video_pipeline;"
            "bad = [m for m in ('prefect', 'torch', 'transformers') if m in sys.modules]; print(bad); assert not bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_pipeline_task_is_its_function_outside_a_run():
    from tasks.envelope_tasks import predict_envelope_task
    from tasks.media_tasks import hash_video_task

    assert isinstance(hash_video_task, PipelineTask) and hash_video_task.name == "hash-video"
    assert hash_video_task.__doc__ == hash_video_task.fn.__doc__
    assert predict_envelope_task.task.name == "predict-envelope" and "envelope" in predict_envelope_task.task.tags


def test_cache_keys_name_the_task_the_file_and_every_option(tmp_path):
    path = tmp_path / "a.wav"
    path.write_bytes(b"1234")
    first = file_identity(path)
    assert cache_key("t", file=first, smoothing="none") != cache_key("t", file=first, smoothing="ellip")
    assert cache_key("t", file=first) != cache_key("u", file=first)
    path.write_bytes(b"12345")  # rewritten: another identity
    assert file_identity(path) != first
    assert file_identity(tmp_path / "missing.wav").startswith("missing:")


@pytest.mark.needs_ffmpeg
def test_inside_a_flow_run_a_cached_step_never_answers_for_other_options(tmp_path, prefect_home):
    from prefect import flow

    from media_factory import audio_only
    from tasks.envelope_tasks import envelope_from_audio_task

    audio = audio_only(tmp_path / "tone.wav", seconds=1.0)

    @flow
    def twice() -> list:
        return [envelope_from_audio_task(str(audio), smoothing, return_state=True)
                for smoothing in ("none", "ellip", "none")]

    states = twice()
    (plain, _), (smoothed, _), (again, _) = (s.result() for s in states)
    assert [s.name for s in states] == ["Completed", "Completed", "Cached"]
    np.testing.assert_array_equal(again, plain)
    assert not np.allclose(plain, smoothed)
