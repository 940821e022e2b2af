"""The engine registries: every engine builds from its name and from a config, unknown names are one line,
and envelope engines take frame features from the flow instead of running a Prefect task."""

from __future__ import annotations

import numpy as np
import pytest

from data_catalog.errors import SonorizeError
from tasks.engines import (
    ENVELOPE_ENGINES,
    SYNTH_ENGINES,
    EnvelopeEngine,
    SynthEngine,
    create_envelope_engine_from_config,
    create_synth_engine_from_config,
    resolve_envelope_engine,
)

KINDS = [("envelope", ENVELOPE_ENGINES, create_envelope_engine_from_config, EnvelopeEngine),
         ("synth", SYNTH_ENGINES, create_synth_engine_from_config, SynthEngine)]


def test_the_registries_hold_every_engine():
    assert sorted(ENVELOPE_ENGINES) == ["auto", "preview", "steps", "video2rms"]
    assert sorted(SYNTH_ENGINES) == ["folai", "foley", "preview", "sao"]
    for registry in (ENVELOPE_ENGINES, SYNTH_ENGINES):
        assert all(engine_class.name == name for name, engine_class in registry.items())


def _build(create, config):
    """The engine, or the one-line user error an engine without its weights / extra gives."""
    try:
        return create(config)
    except SonorizeError as error:  # folai, sao without weights; steps without MediaPipe
        return error


@pytest.mark.parametrize(("kind", "registry", "create", "interface"), KINDS, ids=[k[0] for k in KINDS])
def test_every_engine_builds_from_its_name_and_from_a_config(kind, registry, create, interface):
    for name, engine_class in registry.items():
        by_name, by_config = _build(create, name), _build(create, {"name": name, "options": {}})
        if isinstance(by_name, SonorizeError):  # the same error both ways, naming what is missing
            assert type(by_config) is type(by_name) and str(by_config) == str(by_name), name
            continue
        assert type(by_name) is type(by_config) is engine_class and isinstance(by_name, interface), name
        assert by_name.describe() == by_config.describe() and by_name.describe()["name"] == name


def test_config_options_reach_the_engine():
    engine = create_synth_engine_from_config({"name": "foley", "options": {"reverb": 0.2}}, room_tone_db=-60.0)
    assert engine.describe() == {"name": "foley", "room_tone_db": -60.0, "reverb": 0.2}
    assert create_synth_engine_from_config("foley", reverb=None).describe()["reverb"] is None  # None: dropped


@pytest.mark.parametrize(("kind", "registry", "create", "interface"), KINDS, ids=[k[0] for k in KINDS])
def test_an_unknown_name_is_one_line_listing_the_known_ones(kind, registry, create, interface):
    for config in ("nope", {"name": "nope"}):
        with pytest.raises(SonorizeError) as error:
            create(config)
        assert str(error.value) == f"unknown {kind} engine 'nope'; available: {', '.join(sorted(registry))}"
        assert isinstance(error.value, ValueError)  # callers checking arguments still catch it
    if kind == "envelope":
        with pytest.raises(SonorizeError, match="unknown envelope engine 'stepz'"):
            resolve_envelope_engine("stepz")


def test_only_engines_reading_features_ask_for_them():
    assert {name for name, cls in ENVELOPE_ENGINES.items() if cls.needs_features} == {"video2rms"}
    assert create_envelope_engine_from_config("preview").video_stage() is None


@pytest.mark.needs_ffmpeg
def test_video2rms_reads_the_features_it_is_given_and_runs_no_task(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from data_catalog.examples import make_bouncing_ball_video
    from data_catalog.hashing import sha256_file
    from data_catalog.media import probe_video
    from tasks import feature_tasks

    def no_task(*args, **kwargs):
        raise AssertionError("an engine ran the frame-features task")

    monkeypatch.setattr(feature_tasks.frame_features_task, "fn", no_task)
    video = tmp_path / "ball.mp4"
    make_bouncing_ball_video(video, duration_s=1.0, size=(160, 120))
    info = probe_video(video)
    engine = create_envelope_engine_from_config("video2rms")
    alone, rate = engine.predict(info)  # plain library use: it computes (and caches) its features itself
    features, details = feature_tasks.compute_frame_features(info, sha256_file(video), engine.video_stage())
    assert details["cached"]  # the engine's own computation went through the feature cache
    given, given_rate = engine.predict(info, video_sha256=sha256_file(video), features=features)
    assert rate == given_rate == 125.0 and np.array_equal(alone, given)
    silent, _ = engine.predict(info, features=np.zeros_like(features))  # what it is given is what it reads
    assert not np.array_equal(silent, given)
