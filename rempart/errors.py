"""The errors rempart raises on purpose, one small tree.

Each adapter maps this tree once: the CLI to an exit code and a one-line message, the HTTP API
to a status and ``{"error": {"code", "message"}}``, the bot to a log line. Nothing above
``rempart.media`` ever sees a Pillow, PyAV or OpenCV exception.

    RempartError
    ├── MediaError                 untrusted bytes could not become pixels
    │   ├── UnsupportedFormat      not an image/video format rempart reads
    │   ├── CorruptMedia           a known format, but damaged or truncated
    │   ├── TooLarge               over a configured size, pixel or duration limit
    │   ├── TooSmall               decodes, but too few pixels to fingerprint
    │   └── Unreadable             a path that is missing, a folder or not readable
    ├── InvalidSignal              a signal value that does not parse (bad hex, quality, type)
    ├── InvalidIndexFile           a saved index: damaged, not an index, or another format version
    ├── InvalidRequest             a well-formed request rempart refuses (flat photo, bad file)
    ├── NotFound                   no such case, bank, key or webhook (or not yours to see)
    ├── Conflict                   the thing exists already, or is in a state that forbids this
    ├── Unauthorized               no credentials, or wrong ones (API key, case PIN)
    ├── Forbidden                  valid credentials without the needed scope
    └── RateLimited                too many requests or PIN attempts; ``retry_after`` seconds
"""

from __future__ import annotations


class RempartError(Exception):
    """Base of every error rempart raises deliberately; ``str()`` is a message a user can act on."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MediaError(RempartError):
    """Media bytes could not be decoded into pixels; nothing was hashed."""

    code = "media_error"


class UnsupportedFormat(MediaError):
    """The bytes are not in a format rempart decodes (text, an archive, an unknown codec...)."""

    code = "unsupported_format"


class CorruptMedia(MediaError):
    """The format is recognised but the data is damaged, truncated or inconsistent."""

    code = "corrupt_media"


class TooLarge(MediaError):
    """Over a configured limit (bytes, pixels, frames, duration); raised before decoding."""

    code = "too_large"


class TooSmall(MediaError):
    """The image decodes but is smaller than the minimum a perceptual hash can describe."""

    code = "too_small"


class Unreadable(MediaError):
    """A media path is missing, is a folder, or cannot be opened for reading."""

    code = "unreadable"


class InvalidSignal(RempartError):
    """A malformed signal: wrong length, not hex, quality out of range, unknown type."""

    code = "invalid_signal"


class InvalidIndexFile(RempartError):
    """A saved index file that is not one, has another format version, or is damaged."""

    code = "invalid_index_file"


class InvalidRequest(RempartError):
    """The request is well formed but cannot be accepted as it is (the message says why)."""

    code = "invalid_request"


class NotFound(RempartError):
    """No such resource, or one the caller may not see (the two are not distinguished)."""

    code = "not_found"


class Conflict(RempartError):
    """The resource already exists, or its state forbids the operation."""

    code = "conflict"


class Unauthorized(RempartError):
    """Missing or wrong credentials."""

    code = "unauthorized"


class Forbidden(RempartError):
    """Valid credentials that lack the scope the operation needs."""

    code = "forbidden"


class RateLimited(RempartError):
    """Too many requests or failed PIN attempts; retry after ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
