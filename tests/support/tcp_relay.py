"""A TCP relay in a thread of its own between a client under test and a real server: it records what the
client sent, chunk by chunk as each ``recv`` returned it, and can drop connections on purpose.

    with TcpRelay(server_port) as relay:  # connect the client to relay.port
        relay.drop_next = 1  # the next connection is reset as soon as the client sends, nothing forwarded
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from tests.support.ports import free_port


class TcpRelay:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.sent: list[bytes] = []  # client -> server, one entry per recv
        self.accepted = 0
        self.drop_next = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def commands(self, name: bytes) -> list[int]:
        """How many ``name`` commands each recv carried, for the recvs that carried any."""
        with self._lock:
            return [chunk.count(b"\r\n" + name + b"\r\n") for chunk in self.sent if name in chunk]

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def __enter__(self) -> TcpRelay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        try:
            while data := source.recv(65536):
                if record:
                    with self._lock:
                        drop = self.drop_next > 0
                        self.drop_next -= drop
                        self.sent += [] if drop else [data]
                    if drop:
                        source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        source.close()  # a reset, the way a crashed server or a middlebox drops it
                        return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
