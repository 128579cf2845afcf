"""Whether a port can be listened on, asked before a server binds it (so a port in use is one
clear ``OSError``, not a gRPC C++ log and a RuntimeError)."""

from __future__ import annotations

import socket

__all__ = ["check_port_free"]


def check_port_free(host: str, port: int, what: str) -> None:
    """``OSError`` (EADDRINUSE, EADDRNOTAVAIL...) when ``host:port`` cannot be listened on now."""
    if not port:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as gRPC and waitress bind
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen for {what} on {host}:{port}: {exc.strerror}") from None
