"""``rempart hash --regions`` and derivative matches in ``rempart match``."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from rempart.cli import app
from rempart.records import read_records
from rempart.signals import MAX_REFERENCE_REGIONS, RegionalSignature
from tests.conftest import PHOTOS
from tests.matching.test_regions import regen50

runner = CliRunner()
NAMES = ("img_0012.jpg", "img_0041.jpg", "img_0061.jpg")


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """References: three shared photos. Queries: a regenerated fake of the first, a byte copy
    of the second, and an unrelated photo."""
    root = tmp_path_factory.mktemp("regions")
    references, queries = root / "references", root / "queries"
    references.mkdir()
    queries.mkdir()
    for name in NAMES:
        shutil.copy(PHOTOS / name, references / name)
    regen50(Image.open(PHOTOS / NAMES[0]).convert("RGB")).save(queries / "fake.jpg", quality=85)
    shutil.copy(PHOTOS / NAMES[1], queries / "copy.jpg")
    shutil.copy(PHOTOS / "img_0100.jpg", queries / "other.jpg")
    return references, queries


def test_hash_regions_adds_the_wire_signature(sides: tuple[Path, Path]) -> None:
    references, _ = sides
    result = runner.invoke(app, ["hash", "--regions", str(references / NAMES[0])])
    assert result.exit_code == 0, result.output
    [record] = _lines(result.stdout)
    assert record["regions"]["type"] == "regions"  # type: ignore[index]
    signature = RegionalSignature.from_json(record["regions"], max_regions=MAX_REFERENCE_REGIONS)
    assert len(signature.to_bytes()) <= 2048
    assert set(record) >= {"path", "pdq", "quality", "md5", "sha256", "width", "height"}
    plain = _lines(runner.invoke(app, ["hash", str(references / NAMES[0])]).stdout)[0]
    assert "regions" not in plain
    assert {key: record[key] for key in plain} == plain


def test_regions_survive_the_csv_form(sides: tuple[Path, Path]) -> None:
    references, _ = sides
    jsonl = runner.invoke(app, ["hash", "--regions", str(references / NAMES[1])]).stdout
    table = runner.invoke(app, ["hash", "--regions", "--format", "csv", str(references / NAMES[1])])
    assert table.exit_code == 0
    [row] = list(csv.DictReader(io.StringIO(table.stdout)))
    assert json.loads(row["regions"]) == json.loads(jsonl)["regions"]
    [from_csv] = read_records(table.stdout, "table.csv")
    [from_jsonl] = read_records(jsonl, "lines.jsonl")
    assert from_csv.regions == from_jsonl.regions is not None


def _hash_to(path: Path, source: Path, *options: str) -> Path:
    result = runner.invoke(app, ["hash", *options, str(source)])
    assert result.exit_code == 0, result.output
    path.write_text(result.stdout)
    return path


def test_match_reports_derivatives_when_both_sides_have_regions(
    sides: tuple[Path, Path], tmp_path: Path
) -> None:
    references, queries = sides
    refs = _hash_to(tmp_path / "refs.jsonl", references, "--regions")
    found = _lines(
        runner.invoke(
            app, ["match", str(refs), str(_hash_to(tmp_path / "q.jsonl", queries, "--regions"))]
        ).stdout
    )
    by_query = {Path(str(line["query"])).name: line for line in found}
    assert set(by_query) == {"fake.jpg", "copy.jpg"}
    fake = by_query["fake.jpg"]
    assert Path(str(fake["reference"])).name == NAMES[0]
    assert (fake["signal"], fake["match_type"]) == ("regions", "derivative")
    assert fake["tier"] in ("remove", "review")
    assert int(fake["regions_agreeing"]) >= 2  # type: ignore[call-overload]
    assert 0 <= int(fake["distance"]) <= 40  # type: ignore[call-overload]
    # An exact copy stays an exact match: it precedes the derivative match of the same pair.
    copy = by_query["copy.jpg"]
    assert (copy["match_type"], Path(str(copy["reference"])).name) == ("exact", NAMES[1])
    assert "tier" not in copy and "regions_agreeing" not in copy
    # Without regions on the query side there is no derivative match.
    plain = _lines(
        runner.invoke(
            app, ["match", str(refs), str(_hash_to(tmp_path / "p.jsonl", queries))]
        ).stdout
    )
    assert {Path(str(line["query"])).name for line in plain} == {"copy.jpg"}


def test_match_hashes_media_with_regions_on_request(sides: tuple[Path, Path]) -> None:
    references, queries = sides
    result = runner.invoke(app, ["match", "--regions", str(references), str(queries / "fake.jpg")])
    assert result.exit_code == 0, result.output
    [line] = _lines(result.stdout)
    assert line["match_type"] == "derivative"


def test_a_reference_with_too_many_regions_is_refused(tmp_path: Path) -> None:
    region = {"value": "ab" * 32, "quality": 90, "box": [0.1, 0.1, 0.4, 0.4]}
    record = {
        "path": "big.jpg",
        "regions": {"type": "regions", "regions": [region] * (MAX_REFERENCE_REGIONS + 1)},
    }
    refs = tmp_path / "refs.jsonl"
    refs.write_text(json.dumps(record) + "\n")
    result = runner.invoke(app, ["match", str(refs), str(refs)])
    assert result.exit_code == 1
    assert "at most" in result.output
