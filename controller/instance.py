"""One daemon per store and Stasis application.

A second daemon would take the application's events from the first (Asterisk gives an
application to the newest websocket) and, when it stops, leave every call to the
fallback, unrecorded. So before anything else the daemon takes an exclusive lock on a
file beside the store and writes its pid there; the kernel releases the lock when the
process ends, however it ends, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from controller.filemodes import make_private_folder


class AlreadyRunning(Exception):
    """Another daemon holds the lock."""


class PortBusy(Exception):
    """The web API's (or the FastAGI server's) address is taken."""


def lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".lock")


class InstanceLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Takes the lock or raises :class:`AlreadyRunning` naming the holder's pid."""
        # The lock sits beside the store, and is taken first: the folder it creates is
        # the store's, private from the start.
        make_private_folder(self.path.parent)
        # O_NOFOLLOW: a symlink planted here must not make us truncate its target.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            who = f"pid {holder}" if holder else "another process"
            raise AlreadyRunning(
                f"reccontrol is already running for this store ({who} holds {self.path})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def bind_web(host: str, port: int) -> socket.socket:
    """Binds the web API's address now, before ARI is touched: a busy port must stop
    the daemon before it can take the Stasis application from another one."""
    return bind_address(host, port, "web API", ("web.host", "web.port"))


def bind_address(host: str, port: int, what: str, keys: tuple[str, str]) -> socket.socket:
    """A listening socket on ``host:port``, or :class:`PortBusy` naming ``what`` and the
    config keys that set the host and the port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortBusy(f"{keys[0]} {host!r} cannot be resolved ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise PortBusy(
            f"{what} address {host}:{port} is not available ({exc.strerror}); "
            f"is another reccontrol or service using it? ({keys[1]})"
        ) from None
    sock.listen(128)
    sock.set_inheritable(False)
    return sock
