"""``rempart hash`` and ``rempart match`` on videos: records, CSV, video and clip matches."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.cli import app
from rempart.records import parse_record, read_records, record_signals
from rempart.scan import expand_paths, hash_path
from rempart.signals import VideoSignature, parse_signal
from tests.conftest import PHOTOS
from tests.videos import decoded_frames, scenes, write_animation, write_video

runner = CliRunner()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """refs/: a 30 s video and a photo; queries/: a copy, a 10 s excerpt, a GIF of it, others."""
    root = tmp_path_factory.mktemp("cli-videos")
    refs, queries = root / "refs", root / "queries"
    refs.mkdir()
    queries.mkdir()
    photos = [PHOTOS / f"img_{number:04d}.jpg" for number in range(80, 86)]
    long = write_video(refs / "protected.mp4", scenes(photos, 5.0))
    shutil.copy(PHOTOS / "img_0090.jpg", refs / "photo.jpg")
    shutil.copy(long, queries / "copy.mp4")
    write_video(queries / "excerpt.webm", decoded_frames(long, 10.2, 20.2), codec="libvpx")
    write_animation(
        queries / "excerpt.gif", list(decoded_frames(long, 10.2, 20.2))[::2], 200, "GIF"
    )
    write_video(queries / "other.mp4", scenes([PHOTOS / f"img_{n:04d}.jpg" for n in (95, 96)], 5.0))
    shutil.copy(PHOTOS / "img_0090.jpg", queries / "photo-again.jpg")
    (queries / "notes.mp4").write_text("not a video\n")
    return refs, queries


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_folders_include_video_files(folders) -> None:
    names = {Path(path).name for path in expand_paths([folders[1]])}
    assert {"copy.mp4", "excerpt.webm", "excerpt.gif", "other.mp4", "notes.mp4"} <= names


def test_a_video_record_has_its_frames_under_vpdq_and_no_pdq(folders) -> None:
    result = runner.invoke(app, ["hash", str(folders[0] / "protected.mp4")])

    assert result.exit_code == 0, result.output
    (record,) = lines(result.stdout)
    assert "pdq" not in record and "quality" not in record
    assert (record["width"], record["height"], record["format"], record["codec"]) == (
        160,
        120,
        "mp4",
        "h264",
    )
    assert record["duration"] == pytest.approx(30.0, abs=0.2)
    assert len(record["sha256"]) == 64 and len(record["md5"]) == 32
    assert [round(frame["timestamp"]) for frame in record["vpdq"]] == list(range(30))
    assert set(record["vpdq"][0]) == {"value", "quality", "timestamp"}
    signature = parse_record(record).vpdq
    assert isinstance(signature, VideoSignature) and len(signature.frames) == 30


def test_frame_interval_is_configurable(folders) -> None:
    result = runner.invoke(
        app, ["hash", "--frame-interval", "5", str(folders[0] / "protected.mp4")]
    )

    (record,) = lines(result.stdout)
    assert [frame["timestamp"] for frame in record["vpdq"]] == [0, 5, 10, 15, 20, 25]


def test_an_animated_gif_is_an_image_and_a_video(folders) -> None:
    record = hash_path(str(folders[1] / "excerpt.gif"))

    assert record["format"] == "GIF" and len(record["pdq"]) == 64
    assert len(record["vpdq"]) == 10
    assert record["duration"] == pytest.approx(9.0, abs=0.5)


def test_a_text_file_named_mp4_gets_an_error_record(folders) -> None:
    record = hash_path(str(folders[1] / "notes.mp4"))

    assert record["error"]["type"] == "UnsupportedFormat"


def test_csv_carries_duration_and_frames_and_reads_back(folders) -> None:
    result = runner.invoke(app, ["hash", "--format", "csv", str(folders[0])])

    assert result.exit_code == 0
    rows = {Path(row["path"]).name: row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["protected.mp4"]["pdq"] == ""
    assert float(rows["protected.mp4"]["duration"]) == pytest.approx(30.0, abs=0.2)
    assert rows["photo.jpg"]["vpdq"] == ""
    records = {Path(r.path).name: r for r in read_records(result.stdout, "refs.csv")}
    assert records["protected.mp4"].vpdq is not None
    assert len(records["protected.mp4"].vpdq.frames) == 30
    assert records["photo.jpg"].vpdq is None


def test_record_signals_include_the_video_signature(folders) -> None:
    record = parse_record(hash_path(str(folders[0] / "protected.mp4")))
    kinds = [parse_signal(signal.to_json()).to_json()["type"] for signal in record_signals(record)]

    assert kinds == ["md5", "sha256", "vpdq"]


def test_match_reports_exact_video_clip_and_nothing_for_the_rest(folders, tmp_path) -> None:
    refs, queries = folders
    hashed = runner.invoke(app, ["hash", str(refs)])
    (tmp_path / "refs.jsonl").write_text(hashed.stdout)

    result = runner.invoke(app, ["match", str(tmp_path / "refs.jsonl"), str(queries)])

    assert result.exit_code == 0, result.output
    found = {Path(line["query"]).name: line for line in lines(result.stdout)}
    assert set(found) == {"copy.mp4", "excerpt.webm", "excerpt.gif", "photo-again.jpg"}
    assert found["copy.mp4"]["match_type"] == "exact"
    assert found["photo-again.jpg"]["match_type"] == "exact"
    for name in ("excerpt.webm", "excerpt.gif"):
        clip = found[name]
        assert Path(clip["reference"]).name == "protected.mp4"
        assert (clip["signal"], clip["match_type"]) == ("vpdq", "clip")
        assert clip["query_match_pct"] >= 80
        assert 20 <= clip["reference_match_pct"] <= 50
        assert clip["reference_start_s"] == pytest.approx(10, abs=1)
        assert clip["reference_end_s"] == pytest.approx(19, abs=1)
        assert 0 <= clip["distance"] <= 31


def test_a_reencoded_copy_is_a_video_match(folders, tmp_path) -> None:
    refs, _ = folders
    reencoded = write_video(
        tmp_path / "smaller.mkv", decoded_frames(refs / "protected.mp4"), size=(128, 96)
    )
    result = runner.invoke(app, ["match", str(refs / "protected.mp4"), str(reencoded)])

    (line,) = lines(result.stdout)
    assert line["match_type"] == "video"
    assert line["query_match_pct"] >= 80 and line["reference_match_pct"] >= 80
    assert "reference_start_s" not in line


def test_compare_refuses_a_video_with_a_pointer_to_match(folders) -> None:
    result = runner.invoke(
        app, ["compare", str(folders[0] / "protected.mp4"), str(folders[0] / "photo.jpg")]
    )

    assert result.exit_code == 1
    assert "rempart match" in result.output
