"""Sandbox pieces that need neither root nor Asterisk: templates, mirror lookup,
mount-table parsing, media URIs, and the one-sentence errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.sandbox import Sandbox, SandboxError, SandboxInstance, host
from controller.sandbox.templates import phone_placeholder, phone_placeholders, render

REPOSITORY = Path(__file__).resolve().parents[2]


def instance(root: Path) -> SandboxInstance:
    folder = root / "srv/reccontrol/demo"
    return SandboxInstance(
        name="demo",
        root=root,
        http_port=8088,
        sip_port=5060,
        phone_ports={"alice": 5061},
        ari_url="http://127.0.0.1:8088",
        ari_username="reccontrol",
        ari_password="not-shown",
        recording_dir=folder / "spool/recording",
        sounds_dir=folder / "sounds",
        instance_dir=folder,
        log_dir=folder / "log",
        pid=1,
    )


def test_render_fills_placeholders_and_rejects_unknown_ones() -> None:
    assert render("port=@HTTP_PORT@ at Local/s@sim-caller", {"HTTP_PORT": "8088"}) == (
        "port=8088 at Local/s@sim-caller"
    )
    with pytest.raises(ValueError, match="@HTTP_PRT@"):
        render("bindport=@HTTP_PRT@", {"HTTP_PORT": "8088"}, "http.conf")


def test_every_template_renders_with_the_values_the_sandbox_provides() -> None:
    values = {
        k: "x"
        for k in (
            "INSTANCE",
            "INSTANCE_DIR",
            "SOUNDS_DIR",
            "HTTP_PORT",
            "SIP_PORT",
            "ARI_USERNAME",
            "ARI_PASSWORD",
            "AMI_ENABLED",
            "AMI_PORT",
            "AMI_USERNAME",
            "AMI_PASSWORD",
        )
    }
    config = REPOSITORY / "config" / "asterisk"
    values |= {phone_placeholder(p): "x" for p in phone_placeholders(config)}
    templates = sorted((REPOSITORY / "config" / "asterisk").glob("*.conf"))
    assert templates
    for template in templates:
        text = template.read_text(encoding="utf-8")
        assert text.startswith("; reccontrol: "), f"{template.name} lacks its header comment"
        render(text, values, template.name)


def test_each_simulated_phone_asks_for_its_own_port() -> None:
    config = REPOSITORY / "config" / "asterisk"
    assert phone_placeholders(config) == ["alice", "bruno", "chloe", "trunk"]
    assert phone_placeholder("alice") == "PHONE_ALICE_PORT"


def test_mirror_comes_from_the_environment_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECCONTROL_DEBIAN_MIRROR", "http://mirror.example/debian")
    assert host.debian_mirror(tmp_path, tmp_path / "none") == "http://mirror.example/debian"


def test_mirror_from_deb822_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RECCONTROL_DEBIAN_MIRROR", raising=False)
    (tmp_path / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian http://b.example/\n"
        "Suites: bookworm\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
    )
    assert host.debian_mirror(tmp_path, tmp_path / "none") == "http://mirror.example/debian"


def test_mirror_from_sources_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RECCONTROL_DEBIAN_MIRROR", raising=False)
    listing = tmp_path / "sources.list"
    listing.write_text(
        "# deb http://commented.example/debian sid main\n"
        "deb-src http://src.example/debian sid main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
    )
    assert host.debian_mirror(tmp_path, listing) == "http://mirror.example/debian"


def test_no_mirror_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RECCONTROL_DEBIAN_MIRROR", raising=False)
    with pytest.raises(SandboxError, match="set RECCONTROL_DEBIAN_MIRROR"):
        host.debian_mirror(tmp_path, tmp_path / "none")


def test_not_root_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("controller.sandbox.host.os.geteuid", lambda: 1000)
    box = Sandbox(tmp_path / "root", REPOSITORY / "config/asterisk", REPOSITORY / "dialplan")
    with pytest.raises(SandboxError, match=r"^the Asterisk sandbox needs root \(it uses chroot"):
        box.ensure_built()
    with pytest.raises(SandboxError, match="needs root"):
        box.up()


def test_missing_tool_names_the_package() -> None:
    with pytest.raises(SandboxError, match=r"^no-such-tool is not installed: apt-get install pkg$"):
        host.find_tool("no-such-tool", "pkg")


def test_bad_instance_name_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("controller.sandbox.host.os.geteuid", lambda: 0)
    box = Sandbox(tmp_path / "root", REPOSITORY / "config/asterisk", REPOSITORY / "dialplan")
    for name in ("../etc", "a b", "", "-x"):
        with pytest.raises(SandboxError, match="instance name"):
            box.status(name)


def test_config_dir_without_templates_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match=r"no asterisk\.conf template"):
        Sandbox(tmp_path, tmp_path, tmp_path)


def test_media_uri_is_the_absolute_path_inside_the_chroot_without_extension(
    tmp_path: Path,
) -> None:
    box = instance(tmp_path)
    assert box.media_uri("hello.wav") == "sound:/srv/reccontrol/demo/sounds/hello"
    assert box.media_uri("hello") == "sound:/srv/reccontrol/demo/sounds/hello"
    assert box.media_uri("fr/notice.gsm") == "sound:/srv/reccontrol/demo/sounds/fr/notice"
    with pytest.raises(SandboxError):
        box.media_uri("../../etc/passwd")
    with pytest.raises(SandboxError, match="outside the sandbox root"):
        box.asterisk_path(Path("/etc/passwd"))
    assert box.asterisk_path(box.recording_dir / "a.wav") == (
        "/srv/reccontrol/demo/spool/recording/a.wav"
    )
    assert box.events_url == "ws://127.0.0.1:8088/ari/events"
    assert "not-shown" not in repr(box)


def test_mount_paths_are_unescaped() -> None:
    assert host._unescape_mount_path(r"/a\040b\134c") == "/a b\\c"


def test_process_state_of_a_missing_pid_is_none() -> None:
    assert host.process_state(2**22 + 12345) is None
    assert not host.is_alive(2**22 + 12345)
