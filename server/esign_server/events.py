"""In-process wake-ups for long-polls and server-sent events.

Service steps run in worker threads and publish keys such as ``session:<id>`` or ``user:<id>``;
waiters in the event loop wake at once. This is only a shortcut: waiters also re-read the database
every second or so, which is what makes long-polls work across several worker processes.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from threading import Lock


class SessionEvents:
    """Publish/wait on string keys; safe to publish from any thread."""

    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(set)
        self._lock = Lock()

    def publish(self, *keys: str) -> None:
        """Wake everyone waiting on any of ``keys``."""
        with self._lock:
            targets = [w for key in keys for w in self._waiters.get(key, ())]
        for loop, event in targets:
            if loop.is_closed():
                continue
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                continue

    async def wait(self, keys: Iterable[str], timeout: float) -> bool:
        """Wait until one of ``keys`` is published or ``timeout`` passes; True when woken."""
        loop = asyncio.get_running_loop()
        entry = (loop, asyncio.Event())
        keys = list(keys)
        with self._lock:
            for key in keys:
                self._waiters[key].add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                for key in keys:
                    waiters = self._waiters.get(key)
                    if waiters is not None:
                        waiters.discard(entry)
                        if not waiters:
                            del self._waiters[key]
