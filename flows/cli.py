"""The ``sonorize`` command line.

``run`` goes through the Prefect flow when ``PREFECT_API_URL`` names a server
(or with ``--prefect``: Prefect's temporary server, seconds to start); without
one it runs the same batch as plain functions. The single-file commands
(``envelope``, ``synth``, ``envelope-from-audio``, ``labels``) call the
per-video steps the flow uses (:mod:`flows.api`) as plain functions: no
Prefect import, no server, so they answer in seconds.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from data_catalog.errors import OptionError
from data_catalog.output_folders import safe_name

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Turn silent video into synchronized, editable Foley sound.")
console = Console(stderr=True)

ENVELOPE_ENGINE_HELP = ("What predicts the envelope: 'video2rms' (learned model), 'preview' (motion heuristic), "
                        "'steps' (footsteps from pose and camera bob; needs the steps extra) or 'auto' (per video, "
                        "from evidence: steps for a walk, video2rms for a still camera, else preview).")
SYNTH_ENGINE_HELP = ("What renders audio: 'foley' (events with natural tails over room tone: a sampler over "
                     "--audio-prompt, else procedural materials), 'preview' (the earlier gated grain synthesizer), "
                     "'folai' (Stable Audio Open + envelope ControlNet) or 'sao' (Stable Audio Open regenerating the "
                     "foley render, conditioned on --prompt); the neural engines need their weights: the error names them.")
PROMPT_HELP = ("Words naming the material, e.g. 'footsteps on gravel' (wood, metal, glass, stone, gravel, grass, "
               "water, cloth, paper, plastic; 'steps'/'walking' gives heel-toe footsteps); with a sound library, "
               "files and folders named by these words are preferred.")
AUDIO_PROMPT_HELP = ("Your sound: an audio file or a folder of them (a sound library, 'foley' engine): cut into "
                     "one-shots, sustained sounds and room tone, analysed once and cached.")
ROOM_TONE_HELP = ("Room tone under the events, dBFS RMS (e.g. -55; default: the library's own floor relative to "
                  "the loud events, or a quiet room for procedural sound; -inf: none). 'foley' engine.")
PREFECT_HELP = ("Run as a Prefect flow run (its tasks, logs and artifacts in Prefect's UI). Default: only when "
                "PREFECT_API_URL names a server; --prefect without one starts Prefect's temporary server "
                "(seconds per command). Outputs, run record and catalog rows are the same either way.")
INIT_NOISE_HELP = ("'sao' engine: how far Stable Audio Open may move from the foley render (noise level; 0: the render "
                   "itself, through the VAE; low: the render's timing kept; high: more realism, looser timing). Default 2.")
STEPS_HELP = "'sao' engine: sampling steps (default 100)."
CFG_HELP = "'sao' engine: classifier-free guidance scale of the text prompt (default 7)."
SAMPLER_HELP = "'sao' engine: stable-audio-tools sampler (default dpmpp-3m-sde)."
CANDIDATES_HELP = "'sao' engine: seeds tried per window; the one whose envelope best follows the requested one is kept."
OVERLAP_HELP = ("Analyse the next video (decode, flow, envelope) while the current one's sound and files are written: "
                "at most two videos in flight, same outputs. Default: on for more than one local file with the "
                "CPU engines (foley/preview synthesis, no --encoder), as plain calls (not in a Prefect flow run).")
REVERB_HELP = "Small-room reverberation, wet level 0-1 (default: 0 with a library, 0.12 procedural). 'foley' engine."


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)  # plain text: never wrapped mid-path
    raise typer.Exit(code)


def _require_torch(what: str) -> None:
    """The video stage and the learned models need the ``video`` extra: say so, not a traceback.

    Looked up, not imported: importing this install's PyTorch takes seconds and ~600 MB."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        _fail(f"{what} needs PyTorch, which the base install leaves out: pip install -e '.[video]' "
              "(in this folder; or bash setup.sh test)")


def _prefect_api() -> None:
    """Start Prefect's temporary API server tied to this process (a killed run leaves no server)."""
    from flows.prefect_api import start_ephemeral_api

    start_ephemeral_api()


def _prefect_server_configured() -> bool:
    """Whether ``PREFECT_API_URL`` names a Prefect server (then runs are recorded there at no start cost)."""
    from flows.prefect_api import api_url_configured

    return api_url_configured()


def _quiet_prefect(verbose: bool) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect's 20 s wait for its temporary API is too short on a busy 2-core laptop.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        logging.getLogger("prefect").setLevel(logging.WARNING)


@app.command()
def run(
    paths: list[str] = typer.Argument(..., help="Video files or folders, or s3:// URLs (objects or prefixes)."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Output folder or URL (s3://bucket/prefix) "
                                      "(default SONORIZE_OUTPUT_DIR or ./sonorize-out)."),
    envelope_engine: str = typer.Option("auto", help=ENVELOPE_ENGINE_HELP),
    synth_engine: str = typer.Option("foley", help=SYNTH_ENGINE_HELP),
    prompt: Optional[str] = typer.Option(None, help=PROMPT_HELP),
    audio_prompt: Optional[Path] = typer.Option(None, help=AUDIO_PROMPT_HELP),
    room_tone_db: Optional[float] = typer.Option(None, help=ROOM_TONE_HELP),
    reverb: Optional[float] = typer.Option(None, help=REVERB_HELP),
    seed: int = typer.Option(0, help="Random seed of the synthesizer."),
    force: bool = typer.Option(False, help="Recompute videos whose outputs already exist."),
    encoder: Optional[str] = typer.Option(None, help="Also cache frame features: 'motion', 'tc_clip' or 'bn_inception'."),
    flow: Optional[str] = typer.Option(None, help="Optical flow for --encoder: 'raft' or 'opencv'."),
    device: str = typer.Option("auto", help="Where the video stage runs: 'auto' (the GPU when present), 'cpu', 'cuda'."),
    synth_fallback_preview: bool = typer.Option(False, "--synth-fallback-preview",
                                                help="If the synth engine's weights are missing, use 'preview'."),
    prefect: Optional[bool] = typer.Option(None, "--prefect/--no-prefect", help=PREFECT_HELP),
    init_noise_level: Optional[float] = typer.Option(None, help=INIT_NOISE_HELP),
    steps: Optional[int] = typer.Option(None, help=STEPS_HELP),
    cfg_scale: Optional[float] = typer.Option(None, help=CFG_HELP),
    sampler: Optional[str] = typer.Option(None, help=SAMPLER_HELP),
    candidates: Optional[int] = typer.Option(None, help=CANDIDATES_HELP),
    overlap: Optional[bool] = typer.Option(None, "--overlap/--no-overlap", help=OVERLAP_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Sonorize videos: WAV, muxed MP4, envelope (CSV + plot), labels and a run record per video."""
    _quiet_prefect(verbose)
    from data_catalog.errors import SonorizeError
    from data_catalog.media import require_ffmpeg
    from flows.sonorize_flow import sonorize

    try:
        require_ffmpeg()
    except SonorizeError as exc:
        _fail(str(exc))
    if audio_prompt is not None and not audio_prompt.exists():
        _fail(f"{audio_prompt}: audio prompt not found (give an audio file or a folder of them)")
    if encoder:  # the video2rms engine says itself what its checkpoint needs (PyTorch, or onnxruntime and an export)
        _require_torch("--encoder")
    if prefect is None:
        prefect = _prefect_server_configured()
    try:
        if prefect:
            _prefect_api()
        elif verbose:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)-7s | %(message)s")
        result = sonorize(paths=list(paths), prefect=prefect, out_dir=str(out) if out else None,
                          envelope_engine=envelope_engine,
                          synth_engine=synth_engine, prompt=prompt,
                          audio_prompt=str(audio_prompt) if audio_prompt else None, room_tone_db=room_tone_db,
                          reverb=reverb, seed=seed, force=force,
                          encoder=encoder, flow_method=flow, device=device, show_progress=sys.stderr.isatty(),
                          synth_fallback_preview=synth_fallback_preview, init_noise_level=init_noise_level,
                          steps=steps, cfg_scale=cfg_scale, sampler=sampler, candidates=candidates,
                          overlap=overlap)
    except SonorizeError as exc:
        _fail(str(exc))
    print_summary(result)
    if result["n_videos"] == 0:
        _fail("no video files found in the given paths")
    if result["n_failed"]:
        raise typer.Exit(1)


def print_summary(run: dict) -> None:
    """The end-of-batch table: one row per video."""
    table = Table(title=f"sonorize: {run['n_ok']} ok, {run['n_failed']} failed", title_justify="left")
    from flows.sonorize_flow import envelope_choice

    for column in ("video", "status", "length", "time", "envelope (why)", "onsets", "onset F1 vs original",
                   "output / reason"):
        table.add_column(column, overflow="fold")
    for v in run["videos"]:
        metrics = v.get("metrics") or {}
        f1 = (metrics.get("vs_original_audio") or {}).get("onset_f1")
        duration = (v.get("video") or {}).get("duration_s")
        status = {"ok": "[green]ok[/green]", "cached": "[cyan]cached[/cyan]",
                  "skipped": "[yellow]skipped[/yellow]"}.get(v["status"], "[red]failed[/red]")
        table.add_row(
            Path(v["video_path"]).name, status,
            f"{duration:.1f} s" if duration else "", f"{v.get('wall_s', 0):.1f} s", envelope_choice(v),
            str(metrics.get("n_onsets", "")), f"{f1:.2f}" if f1 is not None else "",
            v.get("output_dir") or v.get("reason", "") if v["status"] != "failed" else _reason(v),
        )
    Console().print(table)
    if run.get("record_path"):
        Console().print(f"run record: {run['record_path']}")


def _reason(video: dict) -> str:
    """The error without the path the video column already shows."""
    error = video.get("error") or ""
    return error.removeprefix(f"{video['video_path']}: ")


def _write_envelope(folder: Path, stem: str, env, rate: float, *, title: str, metadata: dict) -> None:
    """Envelope CSV + sidecar, plot and labels into ``folder``; print their paths."""
    from flows import api

    paths = api.output_paths(folder, stem)
    events = api.write_envelope_files(paths, env, rate, title=title, metadata=metadata)
    for key in ("envelope_csv", "envelope_json", "envelope_png", "labels"):
        typer.echo(paths[key])
    console.print(f"{len(events)} events over {len(env) / rate:.2f} s")


@app.command()
def envelope(
    video: Path = typer.Argument(..., help="A video file."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default beside the video)."),
    envelope_engine: str = typer.Option("auto", help=ENVELOPE_ENGINE_HELP),
) -> None:
    """Write only the envelope of VIDEO (CSV + JSON sidecar, PNG plot, Audacity labels)."""
    from data_catalog.errors import SonorizeError
    from flows import api

    try:
        info, sha = api.identify_video(str(video))
        env, rate, details = api.predict_envelope(info, sha, envelope_engine)
        if details.get("reason"):
            console.print(f"envelope engine {details.get('chosen', envelope_engine)}: {details['reason']}")
        _write_envelope(out or video.parent, safe_name(video.stem), env, rate, title=f"{video.name} ({envelope_engine} envelope)",
                        metadata=api.envelope_metadata(str(video), sha, envelope_engine, details))
    except SonorizeError as exc:
        _fail(str(exc))


@app.command()
def synth(
    video: Path = typer.Argument(..., help="The video to put the new sound into."),
    envelope_csv: Path = typer.Option(..., "--envelope", "-e", help="An envelope CSV (edited or not)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default beside the envelope)."),
    synth_engine: str = typer.Option("foley", help=SYNTH_ENGINE_HELP),
    prompt: Optional[str] = typer.Option(None, help=PROMPT_HELP),
    audio_prompt: Optional[Path] = typer.Option(None, help=AUDIO_PROMPT_HELP),
    room_tone_db: Optional[float] = typer.Option(None, help=ROOM_TONE_HELP),
    reverb: Optional[float] = typer.Option(None, help=REVERB_HELP),
    seed: int = typer.Option(0, help="Random seed of the synthesizer."),
    init_noise_level: Optional[float] = typer.Option(None, help=INIT_NOISE_HELP),
    steps: Optional[int] = typer.Option(None, help=STEPS_HELP),
    cfg_scale: Optional[float] = typer.Option(None, help=CFG_HELP),
    sampler: Optional[str] = typer.Option(None, help=SAMPLER_HELP),
    candidates: Optional[int] = typer.Option(None, help=CANDIDATES_HELP),
    watch: bool = typer.Option(False, "--watch", help="Keep running and render again each time the envelope "
                               "file is saved (the edit -> listen loop; Ctrl-C stops)."),
) -> None:
    """Re-synthesize VIDEO's sound from an envelope file, without the video stages."""
    from data_catalog.envelope_file import read_envelope
    from data_catalog.errors import SonorizeError
    from flows import api
    from flows.video_options import VideoContext, VideoOptions

    options = VideoOptions(synth_engine=synth_engine, prompt=prompt, room_tone_db=room_tone_db, reverb=reverb,
                           audio_prompt=str(audio_prompt) if audio_prompt else None, init_noise_level=init_noise_level,
                           steps=steps, cfg_scale=cfg_scale, sampler=sampler, candidates=candidates, seed=seed)
    context = VideoContext()  # the audio prompt is prepared once, also across --watch renders

    def render(info, sha) -> tuple[dict, dict]:
        env_file = read_envelope(envelope_csv, expected_duration_s=info.duration_s, video_sha256=sha,
                                 video_name=str(video))
        paths = api.output_paths(out or envelope_csv.parent, safe_name(video.stem))
        details = api.render_sound(paths, env_file.envelope, env_file.frame_rate, info, options, context)
        api.mux_video(paths, str(video))
        return paths, details

    try:
        info, sha = api.identify_video(str(video))
        paths, details = render(info, sha)
    except SonorizeError as exc:
        _fail(str(exc))
    typer.echo(paths["wav"])
    typer.echo(paths["video"])
    console.print(f"rendered with {details.get('source', synth_engine)}")
    if watch:
        _watch(envelope_csv, lambda: render(info, sha))


WATCH_POLL_S = 0.05  # how often --watch looks at the envelope file
WATCH_SETTLE_S = 0.05  # a save is complete when the file has not changed for this long


def _stamp(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None  # mid-save (an editor replacing the file): look again
    return st.st_mtime_ns, st.st_size, st.st_ino


def _watch(envelope_csv: Path, render) -> None:
    """Render again each time ``envelope_csv`` is saved, until Ctrl-C. A save that does not read
    (half written, a typo in a value) prints its one-line error and the loop waits for the next."""
    import signal
    import time

    from data_catalog.errors import SonorizeError

    def stop(signum, frame):
        raise KeyboardInterrupt

    # Ctrl-C and a plain kill both stop the loop, even when SIGINT came ignored from the parent (a
    # process started in the background, or by a runner that ignores it: Python then keeps ignoring it).
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    console.print(f"watching {envelope_csv}: save it to hear the change (Ctrl-C stops)")
    seen = _stamp(envelope_csv)
    try:
        while True:
            time.sleep(WATCH_POLL_S)
            now = _stamp(envelope_csv)
            if now is None or now == seen or now[1] == 0:  # unchanged, or truncated for a save in progress
                continue
            time.sleep(WATCH_SETTLE_S)
            if _stamp(envelope_csv) != now:
                continue  # still being written
            seen = now
            start = time.perf_counter()
            try:
                paths, _ = render()
            except SonorizeError as exc:
                console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
                continue
            console.print(f"rendered {paths['wav'].name} in {time.perf_counter() - start:.2f} s", highlight=False,
                          soft_wrap=True)
    except KeyboardInterrupt:
        console.print("stopped watching")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command("envelope-from-audio")
def envelope_from_audio(
    audio: Path = typer.Argument(..., help="Any recording: a vocal imitation, a clap track, a video's audio."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default beside the audio)."),
    smoothing: str = typer.Option("none", help="'none' (keeps attacks on time), 'ellip' (Video-Foley) or 'kernel' (FolAI)."),
) -> None:
    """Make an envelope file (CSV + sidecar, plot, labels) from an audio recording."""
    from data_catalog.errors import SonorizeError
    from data_catalog.hashing import sha256_file
    from flows import api

    try:
        env, rate = api.envelope_from_audio(str(audio), smoothing)
        _write_envelope(out or audio.parent, safe_name(audio.stem), env, rate, title=f"{audio.name} (from audio, {smoothing} smoothing)",
                        metadata={"source": str(audio), "source_sha256": sha256_file(audio), "engine": "audio",
                                  "smoothing": smoothing})
    except SonorizeError as exc:
        _fail(str(exc))


@app.command()
def labels(
    envelope_csv: Path = typer.Argument(..., help="An envelope CSV."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Label file (default NAME.labels.txt beside it)."),
) -> None:
    """Export an envelope's events as an Audacity label track (File > Import > Labels)."""
    from data_catalog.errors import SonorizeError
    from flows import api

    try:
        target, n_labels = api.write_labels(envelope_csv, out)
    except SonorizeError as exc:
        _fail(str(exc))
    typer.echo(target)
    console.print(f"{n_labels} labels")


@app.command()
def features(
    paths: list[str] = typer.Argument(..., help="Video files or folders."),
    encoder: str = typer.Option("motion", help="'motion' (no weights), 'tc_clip' or 'bn_inception' (model store)."),
    flow: Optional[str] = typer.Option(None, help="'raft' or 'opencv' (default opencv for motion, raft otherwise)."),
    device: str = typer.Option("auto", help="'auto' (the GPU when present), 'cpu' or 'cuda'."),
    dataset: str = typer.Option("default", help="Feature-cache partition: dataset name."),
    split: str = typer.Option("all", help="Feature-cache partition: split name."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Compute and cache frame features only (cache under SONORIZE_CACHE_DIR/features)."""
    _quiet_prefect(verbose)
    _require_torch("sonorize features")
    from data_catalog.errors import SonorizeError
    from flows.features_flow import features as features_flow

    try:
        _prefect_api()
        result = features_flow(paths=list(paths), encoder=encoder, flow_method=flow, device=device,
                               dataset=dataset, split=split, show_progress=sys.stderr.isatty())
    except SonorizeError as exc:
        _fail(str(exc))
    table = Table(title=f"features: {result['encoder']} + {result['flow']} flow -> {result['cache_dir']}",
                  title_justify="left")
    for column in ("video", "status", "frames x dim", "time", "cache file / reason"):
        table.add_column(column, overflow="fold")
    for v in result["videos"]:
        shape = "x".join(map(str, v["shape"])) if v.get("shape") else ""
        detail = v.get("cache_file", "") if v["status"] != "failed" else _reason(v)
        table.add_row(Path(v["video_path"]).name, v["status"], shape, f"{v['wall_s']:.2f} s", detail)
    Console().print(table)
    if result["n_videos"] == 0:
        _fail("no video files found in the given paths")
    if result["n_failed"]:
        raise typer.Exit(1)


@app.command()
def preprocess(
    dataset: str = typer.Argument(..., help="'greatest-hits', 'walking-the-maps' or 'folder' (any videos with audio)."),
    root: Path = typer.Argument(..., help="The dataset's folder."),
    encoder: str = typer.Option("motion", help="Feature encoder: 'motion', 'tc_clip' or 'bn_inception'."),
    flow: Optional[str] = typer.Option(None, help="'raft' or 'opencv' (default per encoder)."),
    device: str = typer.Option("auto", help="'auto', 'cpu' or 'cuda'."),
    limit: Optional[int] = typer.Option(None, help="Only the first N items."),
    separate_query: Optional[str] = typer.Option(None, "--separate", help="Clean each item's audio with AudioSep "
                                                 "before measuring targets, keeping what QUERY describes (default: "
                                                 "'footstep sounds' for walking-the-maps, none for the others)."),
    no_separate: bool = typer.Option(False, "--no-separate", help="Measure targets on the audio as it is."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Build a dataset's catalog tables, envelope targets and feature cache (idempotent, resumable)."""
    _quiet_prefect(verbose)
    _require_torch("sonorize preprocess")
    from data_catalog.errors import SonorizeError
    from flows.preprocess_flow import preprocess as preprocess_flow

    try:
        if no_separate and separate_query:
            raise OptionError("--separate and --no-separate contradict each other")
        _prefect_api()
        result = preprocess_flow(dataset=dataset, root=str(root), encoder=encoder, flow_method=flow,
                                 device=device, limit=limit, show_progress=sys.stderr.isatty(),
                                 separate=False if no_separate else separate_query)
    except SonorizeError as exc:
        _fail(str(exc))
    Console().print({k: v for k, v in result.items() if not isinstance(v, (list, dict))})
    if result.get("n_failed"):
        raise typer.Exit(1)


@app.command()
def evaluate(
    generated: Path = typer.Argument(..., help="Generated sound: audio or video files in a folder (any system's)."),
    reference: Path = typer.Argument(..., help="Real recordings to compare with: audio or video files in a folder."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Write each generated file's score here."),
    worst: int = typer.Option(10, help="How many of the least real files to list."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """How real does GENERATED sound? FAD-SFX against REFERENCE (least real files first), then every other metric."""
    _quiet_prefect(verbose)
    _require_torch("sonorize evaluate")
    from data_catalog.errors import SonorizeError
    from data_catalog.media import require_ffmpeg
    from flows.evaluate_flow import evaluate as evaluate_flow

    for path in (generated, reference):
        if not path.exists():
            _fail(f"{path}: not found")
    try:
        require_ffmpeg()
        result = evaluate_flow(generated=[str(generated)], reference=[str(reference)],
                               csv_path=str(csv_out) if csv_out else None, show_progress=sys.stderr.isatty())
    except SonorizeError as exc:
        _fail(str(exc))
    table = Table(title=f"FAD-SFX {result['fad_sfx']:.2f} ({result['n_generated']} generated vs "
                        f"{result['n_reference']} reference files; lower is more real)", title_justify="left")
    for column in ("least real first", "clip FAD-SFX", "blocks"):
        table.add_column(column, overflow="fold")
    for clip in result["clips"][:worst]:
        score = "too short (< 3.5 s)" if clip["fad_sfx"] is None else f"{clip['fad_sfx']:.2f}"
        table.add_row(Path(clip["path"]).name, score, str(clip["blocks"]))
    Console().print(table)
    metrics = Table(title=f"every metric ({result.get('pairs', 0)} generated files paired with a reference by name)",
                    title_justify="left")
    for column in ("metric", "value", "better"):
        metrics.add_column(column, overflow="fold")
    from tasks.metric_suite import metric_table

    for row in metric_table(result.get("metrics", {})):
        metrics.add_row(row["metric"], row["note"] if row["value"] is None else f"{row['value']:.4f}", row["better"])
    Console().print(metrics)
    for failure in result["failed"]:
        Console().print(f"[yellow]skipped[/yellow] {failure['error']}")
    if csv_out:
        typer.echo(csv_out)


@app.command()
def separate(
    paths: list[str] = typer.Argument(..., help="Audio or video files, or folders of them."),
    query: str = typer.Option("footstep sounds", "--query", "-q", help="The sound to keep, in words (AudioSep)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default beside each input)."),
    device: str = typer.Option("auto", help="'auto' (the GPU when present), 'cpu' or 'cuda'."),
    batch_windows: Optional[int] = typer.Option(None, help="5 s windows per network call (default 4)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Keep only the sound QUERY describes (AudioSep): NAME.separated.wav (44.1 kHz stereo) + spectrogram PNG."""
    _quiet_prefect(verbose)
    _require_torch("sonorize separate")
    from data_catalog.errors import SonorizeError
    from data_catalog.media import require_ffmpeg
    from flows.separate_flow import separate as separate_flow

    try:
        require_ffmpeg()
        result = separate_flow(paths=list(paths), query=query, out_dir=str(out) if out else None, device=device,
                               batch_windows=batch_windows, show_progress=sys.stderr.isatty())
    except SonorizeError as exc:
        _fail(str(exc))
    table = Table(title=f"separate '{result['query']}': {result['n_files'] - result['n_failed']} ok, "
                        f"{result['n_failed']} failed ({result['device']})", title_justify="left")
    for column in ("file", "status", "length", "time", "output / reason"):
        table.add_column(column, overflow="fold")
    for f in result["files"]:
        ok = f["status"] == "ok"
        table.add_row(Path(f["path"]).name, "[green]ok[/green]" if ok else "[red]failed[/red]",
                      f"{f['duration_s']:.1f} s" if ok else "", f"{f['wall_s']:.1f} s",
                      f["wav"] if ok else f["error"].removeprefix(f"{f['path']}: "))
    Console().print(table)
    if result["n_files"] == 0:
        _fail("no audio or video files found in the given paths")
    if result["n_failed"]:
        raise typer.Exit(1)


@app.command("train-video2rms")
def train_video2rms(
    dataset: str = typer.Argument(..., help="A preprocessed dataset."),
    encoder: str = typer.Option("motion", help="The encoder its features were made with."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Checkpoint folder."),
    epochs: Optional[int] = typer.Option(None, help="Epochs (default 500, FolAI)."),
    holdout: Optional[list[str]] = typer.Option(None, help="Item ids to validate on (repeat the option)."),
    config: Optional[Path] = typer.Option(None, help="JSON file of Video2RMSConfig fields to override."),
    device: str = typer.Option("auto", help="'auto', 'cpu' or 'cuda'."),
    eval_every: int = typer.Option(1, help="Epochs between validations."),
    relative_features: bool = typer.Option(False, help="Also feed features relative to each video's 95th "
                                                        "percentile (the shipped motion model does)."),
    mirror_augment: bool = typer.Option(False, help="Also train on each video mirrored left-right (motion "
                                                    "features only; the shipped motion model does)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Train the Video2RMS envelope model (resumes from OUT/last.safetensors)."""
    _quiet_prefect(verbose)
    _require_torch("sonorize train-video2rms")
    import json

    from data_catalog.errors import SonorizeError
    from flows.train_video2rms_flow import train_video2rms as train_flow

    overrides = json.loads(config.read_text()) if config else {}
    if epochs:
        overrides["epochs"] = epochs
    try:
        _prefect_api()
        result = train_flow(dataset=dataset, encoder=encoder, out_dir=str(out) if out else None, config=overrides,
                            holdout=list(holdout) if holdout else None, device=device, eval_every=eval_every,
                            relative_features=relative_features, mirror_augment=mirror_augment)
    except SonorizeError as exc:
        _fail(str(exc))
    Console().print({"best_checkpoint": result["best_checkpoint"], "best": result["best"]})


@app.command("export-onnx")
def export_onnx(
    checkpoint: Optional[Path] = typer.Argument(None, help="A Video2RMS checkpoint (.safetensors); default: the "
                                                           "configured or shipped one."),
) -> None:
    """Export a Video2RMS checkpoint to ONNX beside it (CHECKPOINT.onnx + .onnx.json): it then runs on the CPU
    without PyTorch. Needs the video extra (PyTorch, onnx)."""
    _require_torch("sonorize export-onnx")
    from data_catalog.errors import SonorizeError
    from tasks.engines.video2rms import default_video2rms_checkpoint
    from tasks.video2rms_export import export_video2rms_onnx

    checkpoint = checkpoint or default_video2rms_checkpoint()
    if checkpoint is None:
        _fail("no Video2RMS checkpoint: name one")
    try:
        target = export_video2rms_onnx(checkpoint)
    except (SonorizeError, ImportError) as exc:  # ImportError: onnx (the video extra) is not installed
        _fail(str(exc))
    console.print(f"ONNX export: {target}")


@app.command("train-controlnet")
def train_controlnet(
    dataset: str = typer.Argument(..., help="A preprocessed dataset (its chunks table), e.g. greatest-hits."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Checkpoint folder."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default 20000, FolAI)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (default 12, FolAI)."),
    gradient_checkpointing: bool = typer.Option(False, help="Recompute activations in the backward pass."),
    config: Optional[Path] = typer.Option(None, help="JSON file of ControlNetTrainConfig fields to override."),
    base: str = typer.Option("store", help="'store': Stable Audio Open from the model store; else a config "
                                           "name/path built with random weights (smoke tests)."),
    clap: bool = typer.Option(True, help="Condition on LAION-CLAP audio embeddings (FolAI); --no-clap trains "
                                         "without (the CLAP weights are then not needed)."),
    cavp: bool = typer.Option(True, help="Condition on CAVP video embeddings at 4 fps (FolAI); --no-cavp trains "
                                         "without (the CAVP weights are then not needed)."),
    device: str = typer.Option("auto", help="'auto', 'cpu' or 'cuda'."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Train FolAI's envelope ControlNet on Stable Audio Open (resumes from OUT/last.safetensors)."""
    _quiet_prefect(verbose)
    _require_torch("sonorize train-controlnet")
    import json

    from data_catalog.errors import SonorizeError
    from flows.train_controlnet_flow import train_controlnet as train_flow

    overrides = json.loads(config.read_text()) if config else {}
    for key, value in (("steps", steps), ("batch_size", batch_size)):
        if value:
            overrides[key] = value
    if gradient_checkpointing:
        overrides["gradient_checkpointing"] = True
    try:
        _prefect_api()
        result = train_flow(dataset=dataset, out_dir=str(out) if out else None, config=overrides, base=base,
                            device=device, clap=clap, cavp=cavp)
    except (SonorizeError, ImportError) as exc:  # ImportError: an extra the command needs is not installed
        _fail(str(exc))
    Console().print({"best_checkpoint": result["best_checkpoint"], "best_val_loss": result["best_val_loss"]})


@app.command()
def demo(
    out: Path = typer.Option(Path("sonorize-demo"), "--out", "-o", help="Output folder."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs."),
) -> None:
    """Make the shipped example clip (a bouncing ball) and sonorize it."""
    from data_catalog.examples import make_bouncing_ball_video

    example = out / "example" / "bouncing-ball.mp4"
    impacts = make_bouncing_ball_video(example, duration_s=6.0)
    console.print(f"example clip: {example} (impacts at {', '.join(f'{t:.2f}' for t in impacts)} s)")
    run(paths=[str(example)], out=str(out), envelope_engine="auto", synth_engine="foley",
        prompt="a rubber ball bouncing on a wooden floor", audio_prompt=None, room_tone_db=None, reverb=None,
        seed=0, force=True,
        encoder=None, flow=None, device="auto", synth_fallback_preview=False, init_noise_level=None, steps=None,
        cfg_scale=None, sampler=None, candidates=None, prefect=None, verbose=verbose)


def _mount_models_app() -> None:
    from flows.models_cli import models_app

    app.add_typer(models_app, name="models", help="The local model store: list, pull, verify weights.")


_mount_models_app()

if __name__ == "__main__":
    app()
