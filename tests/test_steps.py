"""Footsteps: contacts from landmark trajectories, gait from a bobbing camera, the steps and auto engines."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from folai_models.events import detect_onsets
from folai_models.metrics import onset_scores
from folai_models.steps.contacts import contact_novelty, foot_tracks, heel_toe_delay
from folai_models.steps.detect import choose_envelope_engine, detect_steps
from folai_models.steps.gait import CameraMotion, periodicity
from folai_models.steps.pose import LANDMARK
from folai_models.steps.reference import step_reference_onsets
from folai_models.steps.step_envelope import StepEvent, steps_envelope

FPS = 30.0


def walking_landmarks(step_rate: float, seconds: float = 6.0, heel_toe_s: float = 0.07, stance: float = 0.6,
                      x_drift: float = 0.0):
    """BlazePose-shaped (T, 33, 4) landmarks of a walker: each foot lifts in its swing and lands at known times.

    Returns the landmarks and the heel-contact times (both feet, sorted).
    """
    n = int(seconds * FPS)
    t = np.arange(n) / FPS
    cycle = 2.0 / step_rate  # a stride: two steps
    lm = np.full((n, 33, 4), 0.5, dtype=np.float32)
    lm[..., 2], lm[..., 3] = 0.0, 0.95
    lm[:, [LANDMARK["left_hip"], LANDMARK["right_hip"]], 1] = 0.45
    contacts = []
    for side, offset in (("left", 0.0), ("right", cycle / 2)):
        def height(times):  # ground 0.9, lifted by up to 0.06 during the swing (y down)
            phase = np.mod(times - offset, cycle) / cycle  # 0 = heel contact
            swing = np.clip((phase - stance) / (1 - stance), 0, 1)
            return 0.9 - 0.06 * np.sin(np.pi * swing) * (phase >= stance)

        lm[:, LANDMARK[f"{side}_heel"], 1] = height(t)
        lm[:, LANDMARK[f"{side}_ankle"], 1] = height(t) - 0.02
        lm[:, LANDMARK[f"{side}_toe"], 1] = height(t - heel_toe_s)  # the toe lands heel_toe_s after the heel
        for part in ("heel", "ankle", "toe"):
            lm[:, LANDMARK[f"{side}_{part}"], 0] = 0.5 + x_drift * t + (0.05 if side == "left" else -0.05)
        contacts += list(np.arange(offset, seconds, cycle))
    return lm, np.sort([c for c in contacts if 0.3 < c < seconds - 0.3])


@pytest.mark.parametrize("step_rate", [1.8, 3.5])  # walking, running
def test_pose_contacts_land_on_the_heel_strikes(step_rate):
    lm, truth = walking_landmarks(step_rate, x_drift=0.03)  # drifting sideways (a turn) changes nothing
    found = detect_steps(np.zeros(len(lm)), np.zeros((len(lm), 4)), FPS, lm)
    assert found.source == "pose" and "lower body seen in 100%" in found.reason
    times = np.array([e.time_s for e in found.events])
    times = times[(times > 0.3) & (times < 5.7)]  # the contacts scored: away from the clip's edges
    scores = onset_scores(truth, times, window_s=1.5 / FPS)  # within a frame and a half
    assert scores["f1"] >= 0.9, (truth, times)
    assert abs(scores["median_error_s"]) <= 1 / FPS


def test_heel_toe_delay_and_occlusion():
    lm, truth = walking_landmarks(2.0, heel_toe_s=0.1)
    tracks = foot_tracks(lm)
    assert heel_toe_delay(tracks, FPS) == pytest.approx(0.1, abs=1.5 / FPS)
    hidden = lm.copy()
    hidden[60:120, 25:, 3] = 0.1  # feet and knees unseen for 2 s: guessed, not seen
    hidden[150:155] = np.nan  # no body for 5 frames: bridged
    novelty = contact_novelty(foot_tracks(hidden), FPS)
    assert novelty[63:117].max() == 0  # nothing is invented where the feet were not seen
    contacts_after = truth[(truth > 5.2) & (truth < 5.7)]
    assert all(novelty[int(round(c * FPS)) - 2: int(round(c * FPS)) + 3].max() > 0.3 for c in contacts_after)
    bridged = [c for c in truth if 4.9 < c < 5.3]  # contacts near the 5-frame gap still show
    assert all(novelty[int(round(c * FPS)) - 2: int(round(c * FPS)) + 3].max() > 0.3 for c in bridged)


def bobbing_pan(step_rate: float, seconds: float = 6.0, size=(160, 120)):
    """Grey frames of a textured scene seen by a walking camera: a steady pan plus a bob per step."""
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (600, 1200)).astype(np.float32), (0, 0), 3)
    scene = cv2.normalize(scene, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    n = int(seconds * FPS)
    t = np.arange(n) / FPS
    bob = 6.0 * np.abs(np.sin(np.pi * step_rate * t))  # the camera rises and falls once per step (px)
    x = 100 + 20.0 * t  # and pans right
    frames = [scene[int(200 + b): int(200 + b) + size[1], int(xi): int(xi) + size[0]] for b, xi in zip(bob, x)]
    return np.stack(frames), t


def test_camera_bob_gives_the_gait_when_no_body_is_seen():
    frames, t = bobbing_pan(2.2)
    camera = CameraMotion()
    camera.update(frames[:50])
    camera.update(frames[50:])  # windows do not matter
    motion = camera.motion()
    assert motion.shape == (len(frames), 4)
    assert np.mean(motion[1:, 0]) == pytest.approx(-20.0 / FPS / 160, rel=0.25)  # the pan, in widths/frame
    found = detect_steps(np.zeros(len(frames)), motion, FPS, None, pose_note="no pose evidence: test")
    assert found.source == "camera bob", found.reason
    assert found.evidence["forward_share"] < 0.5  # a sideways pan is no forward travel
    assert "no pose evidence: test" in found.reason and "bobs periodically" in found.reason
    rate = len(found.events) / (t[-1] - t[0])
    assert rate == pytest.approx(2.2, rel=0.1)
    gaps = np.diff([e.time_s for e in found.events])
    assert np.median(gaps) == pytest.approx(1 / 2.2, abs=1.5 / FPS)


def test_a_still_or_steady_camera_is_no_gait():
    frames, _ = bobbing_pan(2.2)
    steady = CameraMotion()
    steady.update(np.stack([frames[0]] * 120))
    found = detect_steps(np.zeros(120), steady.motion(), FPS, None)
    assert found.source == "none" and not found.events and "nothing moves" in found.reason
    assert periodicity(np.zeros(10), FPS) == (pytest.approx(np.nan, nan_ok=True), 0.0)
    drift = np.linspace(0, 1, 200) ** 2  # correlates most at the shortest lag, but is no gait
    assert periodicity(drift, FPS)[1] == 0.0
    rate, strength = periodicity(np.maximum(np.sin(2 * np.pi * 2.0 * np.arange(200) / FPS), 0), FPS)
    assert rate == pytest.approx(2.0, rel=0.05) and strength > 0.8


@pytest.mark.parametrize("evidence, available, note, engine, words", [
    ({"lower_body_seen": 0.9, "bob_periodicity": 0.0, "camera_motion": 0.01}, True, None, "steps", "lower body"),
    ({"lower_body_seen": 0.1, "bob_periodicity": 0.6, "bob_rate_hz": 2.0, "camera_vertical_motion": 0.01,
      "camera_motion": 0.01}, True, None, "steps", "bobs like a walk"),
    ({"lower_body_seen": 0.0, "bob_periodicity": 0.05, "forward_share": 0.95, "camera_motion": 0.01}, True, None,
     "steps", "travels forward"),
    ({"lower_body_seen": 0.0, "bob_periodicity": 0.05, "camera_vertical_motion": 1e-4, "camera_motion": 1e-4,
      "forward_share": 0.4}, True, None, "video2rms", "still camera"),
    ({"lower_body_seen": 0.0, "bob_periodicity": 0.05, "camera_motion": 1e-4}, False, None, "preview",
     "no Video2RMS model"),
    ({"lower_body_seen": 0.0, "bob_periodicity": 0.05, "camera_motion": 0.02}, True, None, "preview", "moving camera"),
    ({"lower_body_seen": 0.0, "bob_periodicity": 0.05, "camera_motion": 0.02}, True, "no pose evidence: no mediapipe",
     "preview", "no pose evidence"),
])
def test_auto_chooses_by_evidence_and_says_why(evidence, available, note, engine, words):
    chosen, reason = choose_envelope_engine(evidence, video2rms_available=available, pose_note=note)
    assert chosen == engine and words in reason


def test_steps_envelope_is_one_onset_per_step_and_labels_say_step():
    from data_catalog.labels import audacity_labels
    from folai_models.events import envelope_events

    events = [StepEvent(t, i, 0.08, 1.0) for t, i in ((0.5, 1.0), (1.0, 2.0), (1.5, 0.5))]
    env = steps_envelope(events, 250, 125.0)
    onsets = detect_onsets(env, 125.0)
    assert onsets == pytest.approx([0.5, 1.0, 1.5], abs=0.012)
    peaks = [env[int(t * 125)] for t in (0.5, 1.0, 1.5)]
    assert peaks[1] > peaks[0] > peaks[2]  # louder landings, louder steps
    assert env[int(1.05 * 125)] > 0.25 * peaks[1]  # the toe holds the level up after the heel
    text = audacity_labels(envelope_events(env, 125.0), hit_name="step")
    assert text.count("step ") == 3 and "hit" not in text


def test_step_reference_ignores_music():
    sr = 16000
    t = np.arange(4 * sr) / sr
    music = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
    steps = np.arange(0.4, 3.8, 0.5)
    audio = music + 0.002 * np.random.default_rng(0).normal(size=t.size)
    for s in steps:
        i = int(s * sr)
        audio[i: i + 800] += 0.5 * np.random.default_rng(int(s * 10)).normal(size=800) * np.exp(-np.arange(800) / 200)
    found = step_reference_onsets(audio.astype(np.float32), sr)
    assert onset_scores(steps, found, window_s=0.02)["f1"] == 1.0


def _without_mediapipe(monkeypatch):
    for name in [m for m in sys.modules if m == "mediapipe" or m.startswith("mediapipe.")] or ["mediapipe"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "mediapipe.python.solutions", None)


@pytest.mark.needs_ffmpeg
def test_missing_mediapipe_steps_errors_auto_falls_back(monkeypatch, tmp_path):
    from data_catalog.errors import SonorizeInputError
    from data_catalog.examples import make_bouncing_ball_video
    from data_catalog.media import probe_video
    from tasks.engines import create_envelope_engine_from_config
    from tasks.envelope_tasks import predict_envelope_task

    _without_mediapipe(monkeypatch)
    with pytest.raises(SonorizeInputError, match="setup.sh steps"):
        create_envelope_engine_from_config("steps")
    video = tmp_path / "ball.mp4"
    make_bouncing_ball_video(video, duration_s=2.0)
    env, rate, details = predict_envelope_task.fn(probe_video(video), "auto")
    assert details["chosen"] in ("preview", "video2rms") and "no pose evidence" in details["reason"]
    assert len(env) == 250 and rate == 125.0


@pytest.mark.needs_ffmpeg
def test_steps_engine_on_a_video_without_anybody_falls_back_and_says_so(tmp_path):
    pytest.importorskip("mediapipe.python.solutions", reason="the steps extra (bash setup.sh steps) is not installed")
    from data_catalog.examples import make_bouncing_ball_video
    from data_catalog.media import probe_video
    from tasks.envelope_tasks import predict_envelope_task

    video = tmp_path / "ball.mp4"
    impacts = make_bouncing_ball_video(video, duration_s=3.0)
    env, _, details = predict_envelope_task.fn(probe_video(video), "steps")
    assert details["steps_source"] == "motion" and details["events"] == "steps"
    assert "lower body seen in only 0%" in details["reason"] and "preview's motion cues" in details["reason"]
    assert details["pose_frames_per_s"] > 0
    # the ball's bounces (the motion cue) carry the steps
    assert onset_scores(impacts, detect_onsets(env, 125.0), window_s=0.1)["recall"] >= 0.5


def test_summary_table_names_the_choice_and_reason(capsys, monkeypatch):
    from flows.sonorize_flow import envelope_choice, summary_markdown

    video = {"video_path": "walk.mp4", "status": "ok", "wall_s": 1.0, "output_dir": "out/walk",
             "engines": {"envelope": "auto", "envelope_choice": {
                 "chosen": "steps", "reason": "the camera bobs like a walk (0.40 periodicity at 2.0 steps/s)",
                 "steps": {"reason": "the camera bobs periodically: steps on its gait"}}}}
    assert envelope_choice(video).startswith("steps: the camera bobs like a walk")
    run = {"run_id": "r", "n_videos": 1, "n_ok": 1, "n_failed": 0, "envelope_engine": "auto",
           "synth_engine": "foley", "out_dir": "out", "videos": [video]}
    assert "| steps: the camera bobs like a walk" in summary_markdown(run)
    from flows.cli import print_summary

    monkeypatch.setenv("COLUMNS", "300")  # one line per row
    print_summary(run)  # the command line's table has the column too
    out = capsys.readouterr().out
    assert "envelope (why)" in out and "steps: the camera bobs like a walk" in out


def test_a_camera_travelling_forward_reads_as_a_walk():
    from folai_models.steps.detect import gait_evidence

    frames, _ = bobbing_pan(2.0, seconds=3.0)
    scene = frames[0]
    centre = (scene.shape[1] / 2, scene.shape[0] / 2)
    zooming = np.stack([cv2.warpAffine(scene, cv2.getRotationMatrix2D(centre, 0, 1 + 0.01 * i), scene.shape[::-1])
                        for i in range(60)])  # the scene expands 1 % a frame
    camera = CameraMotion()
    camera.update(zooming)
    evidence = gait_evidence(camera.motion(), FPS, None)
    assert evidence["forward_share"] >= 0.9
    engine, reason = choose_envelope_engine({**evidence, "camera_motion": 0.01}, video2rms_available=True)
    assert engine == "steps" and "travels forward" in reason


class _RecordingTracker:
    """Stands in for BlazePose to see which frames reach it, in which order (it runs in its own thread)."""

    def __init__(self, *, static: bool = False):
        self.frames: list[float] = []
        _RecordingTracker.last = self

    def update(self, frames):
        import time
        time.sleep(0.01)  # slower than the flow, as BlazePose is: the cue pass must wait for it, not drop frames
        self.frames += [float(frame.mean()) for frame in frames]

    def result(self):
        return np.asarray(self.frames)[:, None, None] * np.ones((1, 33, 4)), None

    def close(self):
        self.closed = True


@pytest.mark.needs_ffmpeg
@pytest.mark.parametrize("pose, every", [("track", 1), ("sample", "POSE_SAMPLE_EVERY")])
def test_pose_beside_the_flow_sees_every_picked_frame_in_order(monkeypatch, tmp_path, pose, every):
    from data_catalog.examples import make_bouncing_ball_video
    from data_catalog.media import probe_video
    from tasks.engines import video_cues as cues_module

    video = tmp_path / "ball.mp4"
    make_bouncing_ball_video(video, duration_s=3.0)
    info = probe_video(video)
    monkeypatch.setattr(cues_module, "PoseTracker", _RecordingTracker)
    cues = cues_module.video_cues(info, pose=pose)
    step = getattr(cues_module, every) if isinstance(every, str) else every
    frames = np.concatenate(list(cues_module.analysis_frames(info)))
    expected = [float(frame.mean()) for frame in frames[::step]]
    assert cues.n_frames == len(frames) and _RecordingTracker.last.closed
    assert _RecordingTracker.last.frames == expected and cues.landmarks.shape[0] == len(expected)
    plain = cues_module.video_cues(info, pose="off")  # the flow's cues do not depend on the pose thread
    # (to within OpenCV's parallel loops, which vary them by a float32 ulp from run to run even alone)
    assert np.allclose(plain.features, cues.features, rtol=0, atol=1e-5)
    assert np.allclose(plain.camera, cues.camera, rtol=0, atol=1e-9)
