"""``rempart case create/status/report/withdraw`` against a running service: only hashes leave
the machine, the PIN travels in a header, errors are one line."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from rempart.api import create_app
from rempart.cli import app
from rempart.config import Settings
from tests.servers import serving

runner = CliRunner()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path / "service")
    with serving(create_app(settings, background=False)) as url:
        yield url


def test_create_follow_report_and_withdraw(server: str, tmp_path: Path, photos: list[Path]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")

    created = runner.invoke(
        app, ["case", "create", str(photos[0]), str(photos[1]), str(notes), "--server", server]
    )
    assert created.exit_code == 0, created.output
    case = json.loads(created.stdout)
    assert (case["files"], case["signals"]) == (2, 8)  # pdq, md5, sha256, regions each
    assert "not protected" in created.stderr and "notes.txt" in created.stderr
    secret = ["--server", server, "--pin", case["pin"]]

    status = runner.invoke(app, ["case", "status", case["case_id"], *secret])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["signals_count"] == 8

    target = tmp_path / "evidence.pdf"
    report = runner.invoke(app, ["case", "report", case["case_id"], *secret, "-o", str(target)])
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(target.read_bytes())).pages)
    assert case["case_id"] in text

    unconfirmed = runner.invoke(app, ["case", "withdraw", case["case_id"], *secret])
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.stderr
    withdrawn = runner.invoke(app, ["case", "withdraw", case["case_id"], *secret, "--yes"])
    assert withdrawn.exit_code == 0, withdrawn.output
    after = runner.invoke(app, ["case", "status", case["case_id"], *secret])
    assert json.loads(after.stdout)["status"] == "withdrawn"


def test_errors_are_one_line(server: str, photos: list[Path]) -> None:
    created = runner.invoke(app, ["case", "create", str(photos[2]), "--server", server])
    case_id = json.loads(created.stdout)["case_id"]

    wrong = runner.invoke(
        app, ["case", "status", case_id, "--server", server], env={"REMPART_CASE_PIN": "AAAA-BBBB"}
    )
    no_pin = runner.invoke(app, ["case", "status", case_id, "--server", server])
    nowhere = runner.invoke(
        app, ["case", "status", case_id, "--server", "http://127.0.0.1:9", "--pin", "x"]
    )

    assert (wrong.exit_code, wrong.stderr.strip()) == (1, "error: wrong PIN for this case")
    assert no_pin.exit_code == 2 and "--pin" in no_pin.stderr
    assert nowhere.exit_code == 3 and "cannot reach" in nowhere.stderr
