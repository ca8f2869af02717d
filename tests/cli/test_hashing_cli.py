"""``rempart hash``, ``compare``, ``match`` and ``demo``, in-process and as a real subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from rempart.cli import app
from rempart.signals import PdqHash
from tests.conftest import PDQ_REFERENCE
from tests.media.images import encode, textured

runner = CliRunner()
REMPART = [sys.executable, "-m", "rempart"]


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.fixture
def folder(tmp_path: Path, photos: list[Path]) -> Path:
    """Three shared photos, a nested folder, a corrupt file and a non-media file."""
    for photo in photos[:3]:
        shutil.copy(photo, tmp_path / photo.name)
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "drawn.png").write_bytes(encode(textured(200, 150), "PNG"))
    (tmp_path / "broken.jpg").write_bytes(photos[0].read_bytes()[:500])
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_hash_folder_writes_one_record_per_media_file(folder: Path) -> None:
    result = runner.invoke(app, ["hash", str(folder)])

    assert result.exit_code == 0
    records = _lines(result.stdout)
    assert len(records) == 5  # notes.txt is not media; broken.jpg is reported
    by_name = {Path(str(r["path"])).name: r for r in records}
    good = by_name["drawn.png"]
    assert set(good) >= {"path", "pdq", "quality", "md5", "sha256", "width", "height"}
    assert (good["width"], good["height"]) == (200, 150)
    assert len(str(good["pdq"])) == 64
    assert by_name["broken.jpg"]["error"] == {
        "type": "CorruptMedia",
        "message": by_name["broken.jpg"]["error"]["message"],  # type: ignore[index]
    }


def test_hash_exits_1_only_when_nothing_could_be_hashed(tmp_path: Path) -> None:
    bad = tmp_path / "statement.jpg"
    bad.write_text("this is text")

    result = runner.invoke(app, ["hash", str(bad), str(tmp_path / "missing.png")])

    assert result.exit_code == 1
    errors = [record["error"]["type"] for record in _lines(result.stdout)]  # type: ignore[index]
    assert errors == ["UnsupportedFormat", "Unreadable"]
    assert "Traceback" not in result.output


def test_hash_csv_has_the_documented_columns(folder: Path) -> None:
    result = runner.invoke(app, ["hash", "--format", "csv", str(folder)])

    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0].keys() >= {"path", "pdq", "quality", "md5", "sha256", "width", "height"}
    assert sum(1 for row in rows if row["error"].startswith("CorruptMedia: ")) == 1


def test_hash_dihedral_adds_eight_variants(photos: list[Path]) -> None:
    result = runner.invoke(app, ["hash", "--dihedral", str(photos[0])])

    record = _lines(result.stdout)[0]
    variants = record["dihedral"]
    assert isinstance(variants, dict) and len(variants) == 8
    assert variants["original"] == record["pdq"]


def test_unknown_format_is_a_usage_error(photos: list[Path]) -> None:
    result = runner.invoke(app, ["hash", "--format", "xml", str(photos[0])])

    assert result.exit_code == 2
    assert "unknown format" in result.output


def test_compare_files_and_hashes(photos: list[Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy.jpg"
    Image.open(photos[0]).save(copy, quality=60)

    same = runner.invoke(app, ["compare", str(photos[0]), str(copy)])
    other = runner.invoke(app, ["compare", str(photos[0]), str(photos[1])])
    hexes = runner.invoke(app, ["compare", "0" * 64, "0" * 62 + "ff"])

    assert json.loads(same.stdout)["match"] is True
    assert json.loads(other.stdout)["match"] is False
    assert json.loads(hexes.stdout) == {"distance": 8, "match": True, "threshold": 31}
    bad = runner.invoke(app, ["compare", "nope", "0" * 64])
    assert bad.exit_code == 2


def test_match_records_against_media(photos: list[Path], tmp_path: Path) -> None:
    references = tmp_path / "refs.jsonl"
    references.write_text(runner.invoke(app, ["hash", *map(str, photos[:4])]).stdout)
    queries = tmp_path / "queries"
    queries.mkdir()
    Image.open(photos[1]).resize((200, 150)).save(queries / "small.jpg", quality=50)
    shutil.copy(photos[2], queries / "same.jpg")
    shutil.copy(photos[10], queries / "unrelated.jpg")

    result = runner.invoke(app, ["match", str(references), str(queries)])

    assert result.exit_code == 0
    found = {
        (Path(str(m["query"])).name, Path(str(m["reference"])).name): m
        for m in _lines(result.stdout)
    }
    assert set(found) == {("same.jpg", photos[2].name), ("small.jpg", photos[1].name)}
    assert found[("same.jpg", photos[2].name)]["match_type"] == "exact"
    assert found[("same.jpg", photos[2].name)]["signal"] == "sha256"
    near = found[("small.jpg", photos[1].name)]
    assert near["match_type"] == "near" and near["signal"] == "pdq"
    assert 0 < int(near["distance"]) <= 31  # type: ignore[call-overload]


def test_match_threshold_and_no_match_exit_code(photos: list[Path], tmp_path: Path) -> None:
    references = tmp_path / "refs.jsonl"
    references.write_text(runner.invoke(app, ["hash", str(photos[0])]).stdout)
    query = tmp_path / "q.jpg"
    Image.open(photos[0]).resize((120, 90)).save(query, quality=30)

    loose = runner.invoke(app, ["match", str(references), str(query)])
    strict = runner.invoke(app, ["match", "--threshold", "0", str(references), str(query)])

    assert loose.exit_code == strict.exit_code == 0
    assert len(_lines(loose.stdout)) == 1
    distance = int(_lines(loose.stdout)[0]["distance"])  # type: ignore[call-overload]
    assert _lines(strict.stdout) == ([] if distance > 0 else _lines(loose.stdout))


def test_match_reads_csv_and_rejects_malformed_records(photos: list[Path], tmp_path: Path) -> None:
    references = tmp_path / "refs.csv"
    references.write_text(runner.invoke(app, ["hash", "--format", "csv", str(photos[0])]).stdout)
    assert len(_lines(runner.invoke(app, ["match", str(references), str(photos[0])]).stdout)) == 1

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"path": "a", "pdq": "not-hex", "quality": 90}\n')
    result = runner.invoke(app, ["match", str(broken), str(photos[0])])
    assert result.exit_code == 1
    assert "broken.jsonl:1" in result.output
    assert "Traceback" not in result.output


def test_subprocess_hash_of_the_pdq_reference_folder_agrees_with_cpp() -> None:
    completed = subprocess.run(
        [*REMPART, "hash", str(PDQ_REFERENCE)], capture_output=True, text=True, check=False
    )

    assert completed.returncode == 0, completed.stderr
    records = {os.path.relpath(str(r["path"]), PDQ_REFERENCE): r for r in _lines(completed.stdout)}
    # Every image in the folder hashed (CSV/Markdown files are not media).
    assert all("error" not in r for r in records.values())
    # More than 20 files and stdout is a pipe: a progress bar went to stderr.
    assert "hashing" in completed.stderr
    with open(PDQ_REFERENCE / "expected-cpp.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            record = records[row["path"]]
            stored = record.get("pdq_stored_order", record["pdq"])
            distance = PdqHash.from_hex(str(stored)).distance(PdqHash.from_hex(row["pdq"]))
            assert distance <= 12, row["path"]


def test_subprocess_bad_input_exits_cleanly(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")

    completed = subprocess.run([*REMPART, "hash", str(empty)], capture_output=True, text=True)

    assert completed.returncode == 1
    assert json.loads(completed.stdout)["error"]["type"] == "UnsupportedFormat"
    assert "Traceback" not in completed.stderr


def test_demo_prints_a_summary(folder: Path) -> None:
    (folder / "broken.jpg").unlink()

    result = runner.invoke(app, ["demo", str(folder)])

    assert result.exit_code == 0
    assert "hashed 4 of 4 images" in result.output
    assert "0 failures" in result.output
