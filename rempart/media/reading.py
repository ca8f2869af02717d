"""Read media from a path or take it as bytes, never more than a size limit."""

from __future__ import annotations

import os

from rempart.errors import TooLarge, Unreadable


def read_source(source: bytes | str | os.PathLike[str], max_bytes: int) -> bytes:
    """Return the bytes of ``source`` (bytes are passed through), refusing more than ``max_bytes``.

    Raises ``Unreadable`` for a path that is missing, a folder or not readable, and
    ``TooLarge`` before reading a file over the limit.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    else:
        path = os.fspath(source)
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > max_bytes:
                    raise TooLarge(f"{size} bytes is over the {max_bytes}-byte limit")
                data = handle.read(max_bytes + 1)
        except IsADirectoryError as exc:
            raise Unreadable(f"{path} is a folder, not a file") from exc
        except FileNotFoundError as exc:
            raise Unreadable(f"{path} does not exist") from exc
        except PermissionError as exc:
            raise Unreadable(f"{path} cannot be read: permission denied") from exc
        except OSError as exc:
            raise Unreadable(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise TooLarge(f"more than {max_bytes} bytes")
    return data
