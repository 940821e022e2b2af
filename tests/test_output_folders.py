"""Output folders: one video's outputs never replace another's, and never leave ``--out``."""

from __future__ import annotations

import json
from pathlib import Path, PurePath

import pytest

from data_catalog.output_folders import assign_output_folders, safe_name
from flows.inputs import collect_inputs
from media_factory import pattern_clip


def _write_record(folder: Path, stem: str, source: Path, sha: str = "0" * 64, size: int | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.record.json").write_text(json.dumps(
        {"video_path": str(source), "source_path": str(source.resolve()), "video_sha256": sha,
         "video": {"size_bytes": size}}))


def _assign(videos: list[Path], root: Path, out: Path, notes: dict | None = None) -> dict:
    inputs = collect_inputs([str(root)]) if root.is_dir() else collect_inputs([str(v) for v in videos])
    record = (lambda v, m: notes.__setitem__(v, m)) if notes is not None else (lambda v, m: None)
    return {Path(v).name: (str(f), s) for v, (f, s) in
            assign_output_folders([(i.path, i.relative) for i in inputs], out, record).items()}


@pytest.mark.parametrize("name, expected", [
    ("...", "video"), ("..", "video"), (".", "video"), (".hidden", "hidden"), ("a/b\\c", "a_b_c"),
    ("-rf", "-rf"), ("tab\there", "tab_here"), ("ü" * 150, "ü" * 100), ("  ", "video"),
])
def test_safe_name(name, expected):
    assert safe_name(name) == expected


def test_a_generated_suffix_never_takes_a_real_files_folder(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    for name in ("a.mp4", "a-2.mp4", "a.mov"):
        (root / name).write_bytes(b"x")
    notes: dict = {}
    assigned = _assign([], root, tmp_path / "out", notes)
    folders = [f for f, _ in assigned.values()]
    assert len(set(folders)) == 3, assigned
    assert assigned["a-2.mp4"] == ("a-2", "a-2")
    assert all(f == s for f, s in assigned.values())
    assert list(notes) == [str(root / "a.mp4")]  # sorted last: "a-2" < "a.mov" < "a.mp4"
    assert "another video's output folder in this batch; writing into" in notes[str(root / "a.mp4")]


def test_folders_mirror_the_input_tree_and_dot_names_stay_inside(tmp_path):
    root = tmp_path / "in"
    for rel in ("sub1/x.mp4", "sub2/x.mp4", "...mp4", "..mp4"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    inputs = collect_inputs([str(root)])
    assigned = assign_output_folders([(i.path, i.relative) for i in inputs], tmp_path / "out")
    by_rel = {str(PurePath(v).relative_to(root)): f for v, (f, _) in assigned.items()}
    assert by_rel["sub1/x.mp4"] == PurePath("sub1/x") and by_rel["sub2/x.mp4"] == PurePath("sub2/x")
    for folder in assigned.values():
        resolved = (tmp_path / "out" / folder[0]).resolve()
        assert resolved.is_relative_to((tmp_path / "out").resolve()) and resolved != (tmp_path / "out").resolve()
        assert not any(part.startswith(".") for part in folder[0].parts)


def test_a_folder_is_reused_only_by_the_video_that_wrote_it(tmp_path):
    out = tmp_path / "out"
    first, second = tmp_path / "sub1" / "x.mp4", tmp_path / "sub2" / "x.mp4"
    for video, content in ((first, b"one"), (second, b"two")):
        video.parent.mkdir()
        video.write_bytes(content)
    _write_record(out / "x", "x", first)
    assert _assign([first], first, out) == {"x.mp4": ("x", "x")}  # its own folder again
    notes: dict = {}
    assert _assign([second], second, out, notes) == {"x.mp4": ("x-2", "x-2")}  # never first's
    assert "holds another video's outputs" in notes[str(second)]
    # a file added later to first's folder does not take first's output folder over
    later = tmp_path / "sub1" / "x.mov"
    later.write_bytes(b"three")
    assigned = assign_output_folders([(str(later), PurePath("x.mov")), (str(first), PurePath("x.mp4"))], out)
    assert assigned[str(first)] == (PurePath("x"), "x") and assigned[str(later)] == (PurePath("x-2"), "x-2")


def test_a_moved_video_finds_its_folder_by_content(tmp_path):
    from data_catalog.hashing import sha256_file

    out = tmp_path / "out"
    old, new = tmp_path / "old" / "x.mp4", tmp_path / "new" / "x.mp4"
    new.parent.mkdir()
    new.write_bytes(b"same bytes")
    _write_record(out / "x", "x", old, sha=sha256_file(new), size=new.stat().st_size)
    assert _assign([new], new, out) == {"x.mp4": ("x", "x")}


def test_unknown_files_make_a_folder_foreign_but_temporary_files_do_not(tmp_path):
    out = tmp_path / "out"
    video = tmp_path / "x.mp4"
    video.write_bytes(b"x")
    (out / "x").mkdir(parents=True)
    (out / "x" / ".x.foley.wav.abcd1234.tmp").write_bytes(b"partial")
    assert _assign([video], video, out) == {"x.mp4": ("x", "x")}
    (out / "x" / "notes.txt").write_text("mine")
    assert _assign([video], video, out) == {"x.mp4": ("x-2", "x-2")}


@pytest.mark.needs_ffmpeg
def test_flow_colliding_names_keep_every_output(tmp_path, prefect_home):
    from flows.sonorize_flow import sonorize

    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    clip = pattern_clip(tmp_path / "clip.mp4", seconds=1.0, size="64x48")
    for name in ("a.mp4", "a-2.mp4", "a.mov", "sub/a.mp4"):
        (root / name).write_bytes(clip.read_bytes() + name.encode())  # distinct content, still decodable
    out = tmp_path / "out"
    result = sonorize(paths=[str(root)], out_dir=str(out), envelope_engine="preview")
    assert result["n_ok"] == 4, [v.get("error") for v in result["videos"]]
    dirs = {v["video_path"]: v["output_dir"] for v in result["videos"]}
    assert len(set(dirs.values())) == 4
    for video, folder in dirs.items():
        record = json.loads(next(Path(folder).glob("*.record.json")).read_text())
        assert record["source_path"] == str(Path(video).resolve())
    assert dirs[str(root / "sub" / "a.mp4")] == str(out / "sub" / "a")
    # a killed run's temporary file goes; the same file given alone, into the same --out, finds its
    # folder again (cached)
    stale = Path(dirs[str(root / "a.mov")]) / f".{Path(dirs[str(root / 'a.mov')]).name}.foley.mp4.k2xx_1ab.tmp"
    stale.write_bytes(b"half")
    again = sonorize(paths=[str(root / "a.mov")], out_dir=str(out), envelope_engine="preview")
    assert again["videos"][0]["status"] == "cached" and again["videos"][0]["output_dir"] == dirs[str(root / "a.mov")]
    assert not stale.exists()
