"""A free TCP port on 127.0.0.1 for servers the tests start.

A port picked with ``bind(0)`` comes from the kernel's ephemeral range, which every outgoing connection
and every other ``bind(0)`` draws from too: between picking it and the server binding it, a client socket
of the same test run could take it (seen as a rare EADDRINUSE under load). Ports are therefore picked below
that range, where the kernel never assigns one by itself, and never handed out twice in one process."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    top = min(_ephemeral_start(), 32768) - 1
    if top <= 20000:  # an unusual kernel setting: no room below the range, take what bind(0) gives
        return _kernel_port()
    for _ in range(200):
        port = random.randint(20000, top)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free TCP port below the ephemeral range")


def _kernel_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
