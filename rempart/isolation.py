"""Run a decoding job in a child process that is killed if it outlives its deadline.

Video decoding runs inside FFmpeg: rempart checks its deadline on every read and packet, but a
single decoder call cannot be interrupted in-process, so a decoder bug on a crafted file could
hold a thread for ever. The service therefore hashes uploaded videos in a child process: it
gets the bytes, returns the signals, and is killed past the deadline. Children come from a
fork server that has already imported rempart, so starting one costs milliseconds.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from rempart.errors import MediaError, TooLarge

T = TypeVar("T")

FORKSERVER = multiprocessing.get_context("forkserver")
FORKSERVER.set_forkserver_preload(["rempart.signals"])
_context = FORKSERVER


class Isolated:
    """At most ``concurrency`` jobs at once, each in its own child process."""

    def __init__(self, concurrency: int = 2) -> None:
        self._slots = threading.BoundedSemaphore(concurrency)

    def run(self, job: Callable[..., T], *args: Any, timeout: float) -> T:
        """``job(*args)`` in a child; its ``MediaError`` is raised here; a timeout: ``TooLarge``."""
        with self._slots:
            receiver, sender = _context.Pipe(duplex=False)
            child = _context.Process(target=_child, args=(sender, job, args), daemon=True)
            child.start()
            sender.close()
            try:
                if not receiver.poll(timeout):
                    raise TooLarge(f"decoding took longer than {timeout:g} s and was stopped")
                ok, value = receiver.recv()
            except EOFError as exc:
                raise MediaError("the decoder process died on this file") from exc
            finally:
                receiver.close()
                if child.is_alive():
                    child.kill()
                child.join()
        if not ok:
            raise value
        result: T = value
        return result


def _child(sender: Connection, job: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        sender.send((True, job(*args)))
    except MediaError as error:
        sender.send((False, error))
    finally:
        sender.close()
