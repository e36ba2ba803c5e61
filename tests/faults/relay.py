"""A TCP relay on loopback that the test can freeze: a network partition without RST or FIN.

The relay runs its own event loop in a thread and forwards bytes both ways
between each client and the target. ``freeze()`` stops forwarding and stops
reading (connections stay open, nothing answers, nothing is reset; new
connections are accepted but go nowhere), as a dead link or a stopped host
looks to the app. ``thaw()`` resumes, delivering what waited.
"""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.faults.service import free_port


class Relay:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> None:
        """Listen and forward."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    async def _start(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer) -> None:
        await self._flowing.wait()
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self._writers |= {client_writer, server_writer}
        await asyncio.gather(
            self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer)
        )

    def _call(self, function) -> None:
        self._loop.call_soon_threadsafe(function)

    def freeze(self) -> None:
        """Stop forwarding and reading; keep every connection open."""
        self._call(self._flowing.clear)

    def thaw(self) -> None:
        """Forward again."""
        self._call(self._flowing.set)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Frozen for the duration of the block."""
        self.freeze()
        try:
            yield
        finally:
            self.thaw()

    def stop(self) -> None:
        """Close every connection and the listener, and end the thread."""

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in self._writers:
                writer.close()
            self._flowing.set()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
