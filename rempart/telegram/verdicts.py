"""Verdicts by ``file_unique_id``: a file reposted anywhere is not downloaded twice.

Telegram keeps a file's ``file_unique_id`` when it is forwarded or reposted, so a verdict can be
reused for it; but a verdict holds only while the banks are as they were: the bank version
(the service's change-log position) is part of each entry, and every entry is dropped as soon
as the version moves. Identical files posted at the same moment (a raid) share one download.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rempart.telegram.backend import Hit

MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a file matched (empty: nothing), or ``readable`` False when it is not media."""

    hits: tuple[Hit, ...] = ()
    readable: bool = True


class VerdictCache:
    """A bounded LRU map ``file_unique_id -> Verdict`` for one bank version."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[str, Verdict] = OrderedDict()
        self._version: int | None = None
        self._pending: dict[str, asyncio.Future[Verdict]] = {}
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _at(self, version: int) -> None:
        if version != self._version:
            self._entries.clear()
            self._version = version

    async def verdict(
        self, file_unique_id: str, version: int, compute: Callable[[], Awaitable[Verdict]]
    ) -> Verdict:
        """The cached verdict for this file at ``version``, else ``compute()`` once for all
        concurrent callers. A verdict computed while the version moved is returned but not
        kept (it may predate the change)."""
        self._at(version)
        held = self._entries.get(file_unique_id)
        if held is not None:
            self._entries.move_to_end(file_unique_id)
            self.hits += 1
            return held
        running = self._pending.get(file_unique_id)
        if running is not None:
            self.hits += 1
            return await asyncio.shield(running)
        self.misses += 1
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._pending[file_unique_id] = future
        try:
            result = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unshared failure is not reported twice
            raise
        else:
            future.set_result(result)
        finally:
            self._pending.pop(file_unique_id, None)
        if self._version == version:
            self._entries[file_unique_id] = result
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return result
