"""Host-side facts the sandbox relies on: privileges, mounts, processes, the mirror, the
clock."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from controller.sandbox.errors import SandboxError

# debootstrap and chroot live in sbin, which a non-login root shell may lack in PATH.
_SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def require_root() -> None:
    if os.geteuid() != 0:
        raise SandboxError("the Asterisk sandbox needs root (it uses chroot and mounts)")


def find_tool(name: str, package: str) -> str:
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":" + _SBIN_PATH)
    if path is None:
        raise SandboxError(f"{name} is not installed: apt-get install {package}")
    return path


def debian_mirror(
    sources_dir: Path = Path("/etc/apt/sources.list.d"),
    sources_list: Path = Path("/etc/apt/sources.list"),
) -> str:
    """The Debian mirror to bootstrap from.

    ``RECCONTROL_DEBIAN_MIRROR`` wins; otherwise the host's own apt sources, so the
    sandbox uses whatever mirror (or proxy) this machine is already set up for.
    """
    configured = os.environ.get("RECCONTROL_DEBIAN_MIRROR", "").strip()
    if configured:
        return configured
    deb822 = sources_dir / "debian.sources"
    if deb822.is_file():
        for line in deb822.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "uris" and value.split():
                return value.split()[0]
    if sources_list.is_file():
        for line in sources_list.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if not words or words[0] != "deb":
                continue
            # Skip an options block such as "[arch=amd64 signed-by=...]".
            rest = words[1:]
            if rest and rest[0].startswith("["):
                while rest and not rest[0].endswith("]"):
                    rest = rest[1:]
                rest = rest[1:]
            if rest:
                return rest[0]
    raise SandboxError(
        "no Debian mirror found: set RECCONTROL_DEBIAN_MIRROR or configure apt on this host"
    )


def _unescape_mount_path(field: str) -> str:
    # /proc/self/mountinfo writes space, tab, newline and backslash as octal escapes.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below ``path``, deepest first (the order to unmount them)."""
    base = path.resolve()
    found: list[Path] = []
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            point = Path(_unescape_mount_path(line.split()[4]))
            if point == base or base in point.parents:
                found.append(point)
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def is_mounted(path: Path) -> bool:
    return path.resolve() in mounts_under(path)


def _state(stat_file: Path) -> str | None:
    try:
        stat = stat_file.read_text(encoding="utf-8")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    return stat.rpartition(")")[2].split()[0]


def process_state(pid: int) -> str | None:
    """The kernel's one-letter state of ``pid``, or None when there is no such process."""
    return _state(Path(f"/proc/{pid}/stat"))


def is_alive(pid: int) -> bool:
    """Whether any thread of process ``pid`` still runs.

    The main thread of a stopping Asterisk shows as a zombie while its other threads
    still shut down and hold its sockets: the process only counts as gone when every
    thread is.
    """
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return False
    return any(_state(task / "stat") not in (None, "Z", "X") for task in tasks)


def process_root(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/root"))
    except OSError:
        return None


def process_args(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def processes_rooted_at(root: Path) -> list[int]:
    """Pids of live processes whose root directory is ``root`` (chrooted into it)."""
    target = root.resolve()
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and process_root(int(entry.name)) == target:
            if is_alive(int(entry.name)):
                pids.append(int(entry.name))
    return pids


def chroot_ids(root: Path, user: str) -> tuple[int, int]:
    """Uid and gid of ``user`` as the chroot's own passwd file defines them."""
    for line in (root / "etc/passwd").read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise SandboxError(f"the sandbox root {root} has no {user} user: rebuild it")


def utc_now() -> str:
    """Now in UTC, to the second: when the chroot was built, when an instance started."""
    return datetime.now(UTC).isoformat(timespec="seconds")
