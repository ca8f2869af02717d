"""Read an uploaded file into memory, bounded, never onto disk.

Starlette's form parser spools parts over 1 MB to a temporary file; submitted images must never
touch the disk, so uploads are read here: the body is streamed into memory up to the limit
(413 beyond it), and a multipart body is parsed in memory.
"""

from __future__ import annotations

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from rempart.errors import InvalidRequest, TooLarge

_MULTIPART_OVERHEAD = 64 * 1024


async def read_upload(request: Request, limit: int) -> bytes:
    """The uploaded file's bytes: the ``file`` part of a multipart form, or a raw body."""
    declared = request.headers.get("content-length")
    ceiling = limit + _MULTIPART_OVERHEAD
    if declared and declared.isdigit() and int(declared) > ceiling:
        raise TooLarge(f"uploads are limited to {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > ceiling:
            raise TooLarge(f"uploads are limited to {limit} bytes")
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    data = (
        _multipart_file(bytes(body), options)
        if content_type == b"multipart/form-data"
        else bytes(body)
    )
    del body
    if len(data) > limit:
        raise TooLarge(f"uploads are limited to {limit} bytes")
    if not data:
        raise InvalidRequest("no file in the request: send multipart/form-data with a 'file' part")
    return data


def _multipart_file(body: bytes, options: dict[bytes, bytes]) -> bytes:
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequest("multipart body without a boundary")
    parts: list[tuple[bytes, bytearray]] = []
    header_field = bytearray()
    header_value = bytearray()
    disposition = b""

    def on_part_begin() -> None:
        nonlocal disposition
        disposition = b""

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        nonlocal disposition
        if bytes(header_field).lower() == b"content-disposition":
            disposition = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _, params = parse_options_header(disposition)
        parts.append((params.get(b"name", b""), bytearray()))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1][1].extend(data[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # python-multipart raises its own error types on bad bodies
        raise InvalidRequest("the multipart body cannot be parsed") from exc
    for name, data in parts:
        if name == b"file":
            return bytes(data)
    raise InvalidRequest("no 'file' part in the multipart form")
