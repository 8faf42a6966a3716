"""What a running sandbox instance looks like from the host."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from controller.sandbox.errors import SandboxError

# Suffixes Asterisk picks by itself: a media URI must name the file without them.
_AUDIO_SUFFIXES = frozenset({".wav", ".gsm", ".sln", ".sln16", ".ulaw", ".alaw", ".pcm", ".g722"})


@dataclass(frozen=True)
class SandboxInstance:
    """One Asterisk running in the sandbox chroot.

    Paths are host paths unless a name says otherwise; :meth:`asterisk_path` turns them
    into what Asterisk sees inside the chroot.
    """

    name: str
    root: Path
    http_port: int
    sip_port: int
    """Asterisk's PJSIP transport, UDP on 127.0.0.1."""
    phone_ports: dict[str, int] = field(hash=False)
    """Where each simulated SIP phone of pjsip.conf (``alice``, ``trunk``, ...) must
    listen, UDP on 127.0.0.1: its static contact."""
    ari_url: str
    ari_username: str
    # Generated at each start; kept out of repr so a logged instance shows no password.
    ari_password: str = field(repr=False)
    recording_dir: Path
    sounds_dir: Path
    instance_dir: Path
    log_dir: Path
    pid: int
    ami_port: int = 0
    """AMI on 127.0.0.1 (manager.conf); 0 for an instance started without it."""
    ami_username: str = ""
    ami_password: str = field(default="", repr=False)

    def asterisk_path(self, host_path: Path) -> str:
        """The path Asterisk uses for ``host_path``, which must lie inside the chroot."""
        root = self.root.resolve()
        absolute = host_path if host_path.is_absolute() else Path.cwd() / host_path
        try:
            relative = absolute.resolve().relative_to(root)
        except ValueError:
            raise SandboxError(
                f"{host_path} is outside the sandbox root {root}, so Asterisk cannot see it"
            ) from None
        return str(PurePosixPath("/") / PurePosixPath(*relative.parts))

    def media_uri(self, name: str) -> str:
        """The ARI media URI that plays ``name``, a file dropped in :attr:`sounds_dir`.

        Asterisk takes an absolute path in a ``sound:`` URI but wants it without the
        extension: it picks the format itself, and ``sound:/x/beep.wav`` fails.
        """
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise SandboxError(f"media name {name!r} must be a plain file name in sounds_dir")
        if relative.suffix.lower() in _AUDIO_SUFFIXES:
            relative = relative.with_suffix("")
        return "sound:" + self.asterisk_path(self.sounds_dir / relative)

    @property
    def events_url(self) -> str:
        """The ARI events websocket, without the ``app`` query parameter."""
        return "ws" + self.ari_url.removeprefix("http") + "/ari/events"
