"""Banks for operators: create, tune, fill and empty in bulk, exchange as signed files.

Bank contents are sensitive: only the owning organisation lists or exports them, with the
``bank:read`` scope; a ``match`` key can query banks but never read them.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response

from rempart.api.convert import parse_signals
from rempart.api.deps import BankRead, BankWrite, ServiceDep
from rempart.api.schemas import (
    AddedOut,
    BankIn,
    BankOut,
    BankPatch,
    BanksOut,
    ErrorOut,
    ImportedOut,
    PublicKeyOut,
    RemovedOut,
    SignalsIn,
    TrustedKeyIn,
)
from rempart.errors import InvalidRequest, InvalidSignal, TooLarge
from rempart.evidence import iso
from rempart.records import read_records, record_signals
from rempart.signals import Signal
from rempart.store.models import Bank

router = APIRouter(prefix="/v1", tags=["banks"])

MAX_BODY = 200 * 1024 * 1024
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 409, 413, 422, 429)
}
_SIGNAL_BODIES = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": SignalsIn.model_json_schema()},
            "text/csv": {
                "schema": {"type": "string", "description": "`rempart hash --format csv`"}
            },
            "application/x-ndjson": {
                "schema": {"type": "string", "description": "`rempart hash` JSON lines"}
            },
        },
    }
}


def _bank_out(bank: Bank, count: int) -> BankOut:
    return BankOut(
        name=bank.name,
        kind=bank.kind,
        action=bank.action,
        pdq_threshold=bank.pdq_threshold,
        enabled=bank.enabled,
        shared=bank.shared,
        signals_count=count,
        created_at=iso(bank.created_at),
    )


async def _body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY:
            raise TooLarge(f"request bodies are limited to {MAX_BODY} bytes")
    return bytes(body)


async def _signals_from_body(request: Request) -> list[Signal]:
    """Signals from JSON ``{"signals": [...]}``, or CSV / JSON lines as ``rempart hash`` writes."""
    raw = await _body(request)
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the body is not UTF-8 text") from exc
    if kind == "application/json":
        try:
            parsed = SignalsIn.model_validate_json(raw)
        except ValueError as exc:
            raise InvalidRequest('expected {"signals": [...]}, with 1 to 10000 signals') from exc
        return parse_signals(parsed.signals)
    if kind in ("text/csv", "application/x-ndjson", "application/jsonl", "text/plain"):
        try:
            return [s for record in read_records(text, "body") for s in record_signals(record)]
        except InvalidSignal as exc:
            raise InvalidRequest(exc.message) from exc
    raise InvalidRequest(f"unsupported content type {kind!r}: use JSON, CSV or JSON lines")


@router.get("/banks", response_model=BanksOut, responses=_ERRORS)
def list_banks(service: ServiceDep, principal: BankRead) -> BanksOut:
    """Your organisation's banks with their sizes (other organisations' banks are never listed)."""
    return BanksOut(banks=[_bank_out(b, n) for b, n in service.list_banks(principal)])


@router.post("/banks", status_code=201, response_model=BankOut, responses=_ERRORS)
def create_bank(body: BankIn, service: ServiceDep, principal: BankWrite) -> BankOut:
    bank = service.create_bank(
        principal,
        body.name,
        kind=body.kind,
        action=body.action,
        pdq_threshold=body.pdq_threshold,
        enabled=body.enabled,
    )
    return _bank_out(bank, 0)


@router.get("/banks/{name}", response_model=BankOut, responses=_ERRORS)
def get_bank(name: str, service: ServiceDep, principal: BankRead) -> BankOut:
    return _bank_out(*service.get_bank(principal, name))


@router.patch("/banks/{name}", response_model=BankOut, responses=_ERRORS)
def update_bank(name: str, body: BankPatch, service: ServiceDep, principal: BankWrite) -> BankOut:
    """Change the policy: kind, action, PDQ threshold, enabled. Live in every worker within 1 s."""
    service.update_bank(principal, name, **body.model_dump(exclude_none=True))
    return _bank_out(*service.get_bank(principal, name))


@router.delete("/banks/{name}", status_code=204, responses=_ERRORS)
def delete_bank(name: str, service: ServiceDep, principal: BankWrite) -> Response:
    service.delete_bank(principal, name)
    return Response(status_code=204)


@router.post(
    "/banks/{name}/signals",
    response_model=AddedOut,
    responses=_ERRORS,
    openapi_extra=_SIGNAL_BODIES,
)
async def add_signals(
    name: str, request: Request, service: ServiceDep, principal: BankWrite
) -> AddedOut:
    """Add signals in bulk (duplicates already in the bank are skipped and counted)."""
    signals = await _signals_from_body(request)
    result = service.add_bank_signals(principal, name, signals)
    return AddedOut(added=result.added, duplicates=result.duplicates)


@router.post(
    "/banks/{name}/signals/remove",
    response_model=RemovedOut,
    responses=_ERRORS,
    openapi_extra=_SIGNAL_BODIES,
)
async def remove_signals(
    name: str, request: Request, service: ServiceDep, principal: BankWrite
) -> RemovedOut:
    """Remove signals in bulk, by value (a case's signals are withdrawn by the case owner only)."""
    signals = await _signals_from_body(request)
    return RemovedOut(removed=service.remove_bank_signals(principal, name, signals))


@router.get("/banks/{name}/export", responses=_ERRORS)
def export_bank(name: str, service: ServiceDep, principal: BankRead) -> Response:
    """The bank as a signed file (Ed25519) for a partner organisation; see docs/banks.md."""
    document = service.export_bank(principal, name)
    return Response(
        json.dumps(document, ensure_ascii=False, indent=1),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}.rempart-bank.json"'},
    )


@router.post(
    "/banks/import",
    status_code=201,
    response_model=ImportedOut,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def import_bank(
    request: Request, service: ServiceDep, principal: BankWrite, name: str | None = None
) -> ImportedOut:
    """Import a partner's signed bank file; its signer's key must be trusted first."""
    try:
        document: Any = json.loads(await _body(request))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("the body is not a JSON bank file") from exc
    bank, result = service.import_bank(principal, document, name)
    return ImportedOut(bank=bank.name, added=result.added, duplicates=result.duplicates)


@router.get("/signing-key", response_model=PublicKeyOut, responses=_ERRORS)
def signing_key(service: ServiceDep, principal: BankRead) -> PublicKeyOut:
    """Your organisation's public key, to give to partners who import your bank files."""
    return PublicKeyOut(organisation=principal.org_name, public_key=service.signing_key(principal))


@router.post("/trusted-keys", status_code=201, responses=_ERRORS)
def trust_key(body: TrustedKeyIn, service: ServiceDep, principal: BankWrite) -> Response:
    """Trust a partner's public key, so that its signed bank files can be imported."""
    service.trust_key(principal, body.name, body.public_key)
    return Response(status_code=201)
