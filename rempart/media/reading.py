"""Read media from a path or take it as bytes, never more than a size limit."""

from __future__ import annotations

import io
import os
from typing import IO

from rempart.errors import TooLarge, Unreadable

Source = bytes | bytearray | memoryview | str | os.PathLike[str]


def open_source(source: Source, max_bytes: int) -> IO[bytes]:
    """A readable binary stream over ``source`` (bytes, or a file opened for reading), checked
    against ``max_bytes`` before anything is read. The caller closes it.

    Raises ``Unreadable`` for a path that is missing, a folder or not readable, and
    ``TooLarge`` for more than ``max_bytes``.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) > max_bytes:
            raise TooLarge(f"{len(source)} bytes is over the {max_bytes}-byte limit")
        return io.BytesIO(bytes(source))
    path = os.fspath(source)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except IsADirectoryError as exc:
        raise Unreadable(f"{path} is a folder, not a file") from exc
    except FileNotFoundError as exc:
        raise Unreadable(f"{path} does not exist") from exc
    except PermissionError as exc:
        raise Unreadable(f"{path} cannot be read: permission denied") from exc
    except OSError as exc:
        raise Unreadable(f"{path} cannot be read: {exc.strerror or exc}") from exc
    size = os.fstat(handle.fileno()).st_size
    if size > max_bytes:
        handle.close()
        raise TooLarge(f"{size} bytes is over the {max_bytes}-byte limit")
    return handle


def read_source(source: Source, max_bytes: int) -> bytes:
    """The bytes of ``source`` (bytes are passed through); errors as :func:`open_source`."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    else:
        with open_source(source, max_bytes) as handle:
            try:
                data = handle.read(max_bytes + 1)
            except OSError as exc:
                raise Unreadable(f"{os.fspath(source)} cannot be read: {exc}") from exc
    if len(data) > max_bytes:
        raise TooLarge(f"{len(data)} bytes is over the {max_bytes}-byte limit")
    return data
