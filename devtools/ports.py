"""A free TCP port on 127.0.0.1, for the servers the tests, the bench and the local scripts
start: never a fixed one, since several runs may share the machine. The port is free when
asked for; another process could take it before the server binds it, a race the callers accept.
"""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
