"""The editable envelope file: round trip, and a clear error for each malformation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_catalog.envelope_file import read_envelope, sidecar_path, write_envelope
from data_catalog.errors import EnvelopeFileError
from data_catalog.labels import audacity_labels

RATE = 125.0


def _write(tmp_path, values=None):
    values = np.array([0.0, 0.1, 0.5, 0.2, 0.0, 0.0, 0.3, 0.05], np.float32) if values is None else values
    csv_path, side = write_envelope(tmp_path / "clip.envelope.csv", values, RATE, sample_rate=16000,
                                    hop_length=128, frame_length=512, metadata={"source": "clip.mp4"})
    return csv_path, values


def test_round_trip_and_sidecar(tmp_path):
    csv_path, values = _write(tmp_path)
    env = read_envelope(csv_path)
    np.testing.assert_allclose(env.envelope, values, atol=1e-6)
    assert env.frame_rate == RATE
    meta = json.loads(sidecar_path(csv_path).read_text())
    assert meta["n_frames"] == len(values) and meta["hop_length"] == 128 and meta["source"] == "clip.mp4"
    assert csv_path.read_text().splitlines()[0] == "time_s,rms"


def test_edited_values_are_read(tmp_path):
    csv_path, values = _write(tmp_path)
    lines = csv_path.read_text().splitlines()
    time, _ = lines[3].split(",")
    lines[3] = f"{time},0.9"
    csv_path.write_text("\n".join(lines) + "\n")
    assert read_envelope(csv_path).envelope[2] == pytest.approx(0.9)


def test_spreadsheet_semicolon_export_is_accepted(tmp_path):
    csv_path, values = _write(tmp_path)
    csv_path.write_text(csv_path.read_text().replace(",", ";"))
    np.testing.assert_allclose(read_envelope(csv_path).envelope, values, atol=1e-6)


@pytest.mark.parametrize(
    ("row", "replacement", "message"),
    [
        (3, "{t},abc", "line 3: rms value 'abc' is not a number"),
        (3, "{t},-0.2", "line 3: rms -0.2 is negative"),
        (3, "{t},nan", "is not finite"),
        (3, "{t},1.5", "above 1.0"),
        (4, "0.004,0.1", "line 4: time 0.004 is out of order"),
        (4, "{prev},0.1", "is duplicate"),
        (3, "{t}", "line 3: rms value '' is not a number"),
    ],
)
def test_malformed_rows_name_the_line(tmp_path, row, replacement, message):
    csv_path, _ = _write(tmp_path)
    lines = csv_path.read_text().splitlines()
    t = lines[row - 1].split(",")[0]
    prev = lines[row - 2].split(",")[0]
    lines[row - 1] = replacement.format(t=t, prev=prev)
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EnvelopeFileError) as caught:
        read_envelope(csv_path)
    assert message in str(caught.value) and str(csv_path) in str(caught.value)


def test_deleted_row_is_wrong_length(tmp_path):
    csv_path, _ = _write(tmp_path)
    lines = csv_path.read_text().splitlines()
    del lines[-1]
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EnvelopeFileError, match="has 7 rows but its sidecar says 8 frames"):
        read_envelope(csv_path)


def test_envelope_must_span_the_video(tmp_path):
    csv_path, values = _write(tmp_path)
    read_envelope(csv_path, expected_duration_s=len(values) / RATE)
    with pytest.raises(EnvelopeFileError, match="covers 0.064 s but the video lasts 2.000 s"):
        read_envelope(csv_path, expected_duration_s=2.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "file is empty"), ("time,value\n0.1,0.2\n", "header must name"), ("time_s,rms\n", "no data rows")],
)
def test_bad_files(tmp_path, text, message):
    path = tmp_path / "x.csv"
    path.write_text(text)
    with pytest.raises(EnvelopeFileError, match=message):
        read_envelope(path)


def test_binary_file_and_bad_sidecar(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"\xff\xfe\x00\x81binary")
    with pytest.raises(EnvelopeFileError, match="not a text file"):
        read_envelope(path)
    csv_path, _ = _write(tmp_path)
    sidecar_path(csv_path).write_text("{not json")
    with pytest.raises(EnvelopeFileError, match="sidecar is not valid JSON"):
        read_envelope(csv_path)
    sidecar_path(csv_path).write_text('{"frame_rate": -3}')
    with pytest.raises(EnvelopeFileError, match="frame_rate must be a positive number"):
        read_envelope(csv_path)


def test_without_sidecar_the_rate_comes_from_the_times(tmp_path):
    csv_path, values = _write(tmp_path)
    sidecar_path(csv_path).unlink()
    env = read_envelope(csv_path)
    assert env.frame_rate == pytest.approx(RATE, rel=1e-3)


def test_time_moved_off_grid(tmp_path):
    csv_path, _ = _write(tmp_path)
    lines = csv_path.read_text().splitlines()
    lines[4] = "0.0250,0.2"  # frame 3 sits at 0.028 s; 0.025 s is 0.375 frame off
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EnvelopeFileError, match="off the frame grid"):
        read_envelope(csv_path)


def test_audacity_label_track_format():
    from folai_models.events import EnvelopeEvent

    text = audacity_labels([EnvelopeEvent(0.5, 0.6, 0.52, 0.2), EnvelopeEvent(1.0, 2.0, 1.1, 0.05)])
    lines = text.splitlines()
    assert lines[0].split("\t") == ["0.500000", "0.600000", "hit 1 (rms 0.200)"]
    assert lines[1].startswith("1.000000\t2.000000\tsustain 2")


def test_a_field_past_the_csv_limit_is_one_line(tmp_path):
    csv_path, _ = _write(tmp_path)
    lines = csv_path.read_text().splitlines()
    lines[2] = lines[2] + "9" * 200_000
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EnvelopeFileError, match=r"line 3: not a readable CSV row \(field larger than field limit"):
        read_envelope(csv_path)


def test_an_unclosed_quote_is_a_short_error(tmp_path):
    csv_path, _ = _write(tmp_path, np.full(2000, 0.1, np.float32))
    lines = csv_path.read_text().splitlines()
    lines[5] = '"' + lines[5]
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EnvelopeFileError, match="line 6: a quote") as caught:
        read_envelope(csv_path)
    assert len(str(caught.value)) < 300


def test_a_long_bad_cell_is_quoted_short(tmp_path):
    csv_path, _ = _write(tmp_path)
    lines = csv_path.read_text().splitlines()
    lines[2] = lines[2].split(",")[0] + "," + "x" * 5000
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EnvelopeFileError, match=r"line 3: rms value 'x+'\.\.\. \(5000 characters\) is not a number"):
        read_envelope(csv_path)


def test_a_second_rms_column_is_refused(tmp_path):
    csv_path, _ = _write(tmp_path)
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(f"{line},{line.split(',')[1]}" for line in lines) + "\n")
    assert csv_path.read_text().startswith("time_s,rms,rms\n")
    with pytest.raises(EnvelopeFileError, match="line 1: the column 'rms' appears 2 times"):
        read_envelope(csv_path)


def test_a_sidecar_of_another_video_is_refused(tmp_path):
    csv_path, _ = write_envelope(tmp_path / "clip.envelope.csv", np.zeros(8), RATE, sample_rate=16000,
                                      hop_length=128, frame_length=512, metadata={"video_sha256": "a" * 64})
    assert read_envelope(csv_path, video_sha256="a" * 64).envelope.shape == (8,)
    with pytest.raises(EnvelopeFileError, match=r"clip.envelope.json: was made for another video \(sha256 aaaa"):
        read_envelope(csv_path, video_sha256="b" * 64, video_name="other.mp4")
    assert read_envelope(csv_path).envelope.shape == (8,)  # no video to compare with: read as before


def test_a_decimal_comma_is_not_read_as_a_third_column(tmp_path):
    csv_path, _ = _write(tmp_path)
    lines = csv_path.read_text().splitlines()
    lines[3] = lines[3].split(",")[0] + ",0,5"
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EnvelopeFileError, match="line 4: 3 cells but the header names 2 columns"):
        read_envelope(csv_path)
