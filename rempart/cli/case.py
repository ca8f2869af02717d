"""``rempart case ...``: a person's case on a rempart service, from the command line.

``create`` fingerprints files on this machine and sends only the hashes, like the web page;
``status``, ``report`` and ``withdraw`` use the case id and PIN. Made for helplines working with
a person at their side, and for photos the browser cannot read (TIFF, HEIC).

The PIN comes from ``--pin``, the ``REMPART_CASE_PIN`` variable, or a hidden prompt; it is sent
in the ``X-Rempart-Pin`` header, never in an address.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from rempart.cli.terminal import ExitCode, fail, progress, stderr
from rempart.errors import RempartError
from rempart.records import parse_record, record_signals
from rempart.scan import HashOptions, expand_paths, hash_paths

case_app = typer.Typer(
    help="A person's case on a rempart service: create (hashes only), status, report, withdraw.",
    no_args_is_help=True,
)

DEFAULT_SERVER = "http://127.0.0.1:8000"
TIMEOUT_SECONDS = 60.0

Server = Annotated[
    str,
    typer.Option(envvar="REMPART_SERVER", help="Address of the rempart service."),
]
CaseId = Annotated[str, typer.Argument(help="The case id, e.g. RMP-7K3Q-9XWD.")]
PinOption = Annotated[
    str | None,
    typer.Option(
        envvar="REMPART_CASE_PIN",
        help="The case's PIN (asked for, hidden, when not given).",
        show_default=False,
    ),
]


@case_app.command("create")
def create_command(
    paths: Annotated[list[Path], typer.Argument(help="Photos or folders (searched recursively).")],
    server: Server = DEFAULT_SERVER,
) -> None:
    """Protect photos: fingerprint them here and send only the hashes; prints the case id and
    the PIN (shown once) as JSON.

    Files that cannot be hashed are listed on stderr and left out; exits 1 when none could be.
    """
    files = expand_paths(paths)
    if not files:
        fail("no media files found in the given folders")
    signals: list[dict[str, Any]] = []
    hashed = 0
    show = len(files) > 1 and sys.stderr.isatty()
    # Regional signatures too, so the case catches derivatives (docs/derivatives.md).
    records = hash_paths(files, HashOptions(regions=True))
    for record in progress(records, len(files), "hashing", show):
        if "error" in record:
            error = record["error"]
            stderr.print(f"not protected: {record['path']}: {error['type']}: {error['message']}")
            continue
        try:
            signals += [signal.to_json() for signal in record_signals(parse_record(record))]
        except RempartError as exc:
            fail(f"{record['path']}: {exc.message}")
        hashed += 1
    if not signals:
        fail("no file could be hashed; nothing was sent")
    created = _call(server, "POST", "/v1/cases", json={"signals": signals}).json()
    sys.stdout.write(
        json.dumps(
            {
                "case_id": created["case_id"],
                "pin": created["pin"],
                "files": hashed,
                "signals": len(signals),
            }
        )
        + "\n"
    )
    stderr.print(
        f"case {created['case_id']} protects {hashed} file(s). Save the PIN now: it is shown only"
        " once and cannot be recovered."
    )


@case_app.command("status")
def status_command(case_id: CaseId, server: Server = DEFAULT_SERVER, pin: PinOption = None) -> None:
    """Print the case as JSON: status, number of hashes, and every sighting."""
    response = _call(server, "GET", f"/v1/cases/{case_id}", pin=_pin(pin))
    sys.stdout.write(json.dumps(response.json()) + "\n")


@case_app.command("report")
def report_command(
    case_id: CaseId,
    server: Server = DEFAULT_SERVER,
    pin: PinOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Where to write the PDF (default: rempart-ID-evidence.pdf)."
        ),
    ] = None,
    lang: Annotated[str, typer.Option(help="Language of the report: en or fr.")] = "en",
) -> None:
    """Download the evidence report (PDF): sightings, chain of custody, takedown notices.

    Prints the PDF's SHA-256, which the service also recorded in its audit log.
    """
    response = _call(
        server, "GET", f"/v1/cases/{case_id}/report.pdf", pin=_pin(pin), params={"lang": lang}
    )
    target = output or Path(f"rempart-{case_id.upper()}-evidence.pdf")
    target.write_bytes(response.content)
    digest = hashlib.sha256(response.content).hexdigest()
    sys.stdout.write(json.dumps({"path": str(target), "sha256": digest}) + "\n")
    if digest != response.headers.get("X-Rempart-Report-SHA256"):
        fail("the report's SHA-256 differs from the one the service recorded: download it again")


@case_app.command("withdraw")
def withdraw_command(
    case_id: CaseId,
    server: Server = DEFAULT_SERVER,
    pin: PinOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Withdraw the case: every hash and sighting is deleted at once. Cannot be undone."""
    secret = _pin(pin)
    if not yes:
        if not sys.stdin.isatty():
            fail("withdrawing cannot be undone: confirm with --yes", ExitCode.USAGE)
        typer.confirm(
            f"Withdraw case {case_id} and delete all its hashes? This cannot be undone",
            abort=True,
        )
    _call(server, "DELETE", f"/v1/cases/{case_id}", pin=secret)
    stderr.print(f"case {case_id} withdrawn: every hash was deleted")


def _pin(given: str | None) -> str:
    if given:
        return given
    if not sys.stdin.isatty():
        fail("give the PIN with --pin or REMPART_CASE_PIN", ExitCode.USAGE)
    entered: str = typer.prompt("PIN", hide_input=True)
    return entered


def _call(
    server: str,
    method: str,
    path: str,
    *,
    pin: str | None = None,
    json: Any = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """One request to the service; an API error or an unreachable server ends the command with
    the service's message."""
    headers = {"X-Rempart-Pin": pin} if pin else {}
    try:
        response = httpx.request(
            method,
            server.rstrip("/") + path,
            headers=headers,
            json=json,
            params=params,
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        fail(f"cannot reach {server}: {exc}", ExitCode.DEPENDENCY)
    if response.is_success:
        return response
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}"
    fail(message)
