"""A TCP proxy on a random loopback port, between the app and PostgreSQL, that a test
takes down and brings back: the database "goes away" for the app without touching the
machine's PostgreSQL, which other tests are using.

``down()`` closes every open connection (as a crashed or restarted server would) and
answers new ones by closing them at once; ``up()`` forwards again. The proxy runs its
own asyncio loop in a daemon thread; every call is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0
        self._up = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # ---------------------------------------------------------------- control

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def down(self) -> None:
        """The database is gone: live connections are cut, new ones refused."""
        self._call(self._down())

    def up(self) -> None:
        self._call(self._set_up())

    def close(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    @property
    def live_connections(self) -> int:
        return len(self._writers) // 2

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    # ---------------------------------------------------------------- the loop

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _set_up(self) -> None:
        self._up = True

    async def _down(self) -> None:
        self._up = False
        for writer in list(self._writers):
            self._abort(writer)
        self._writers.clear()

    async def _close(self) -> None:
        await self._down()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @staticmethod
    def _abort(writer: asyncio.StreamWriter) -> None:
        # A reset, not a polite FIN: what the client sees when the server dies.
        with contextlib.suppress(Exception):
            writer.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if not self._up:
            self._abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._abort(writer)
            return
        pair = {writer, up_writer}
        self._writers |= pair
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in pair:
                self._writers.discard(w)
                self._abort(w)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        self._abort(writer)
