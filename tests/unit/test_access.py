"""The audited door (S1, S2, C5): roles, scopes, purposes, credentials, sheets, and the
data-subject export and erase round trip, on a real store and vault."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.access.credentials import (
    CredentialError,
    Password,
    Token,
    check,
    hash_password,
    hash_token,
    read_verifier,
    verify_password,
    verify_token,
)
from controller.access.errors import NOT_FOUND
from controller.access.service import AccessFailed, AccessRefused, AccessService
from controller.clock import FixedClock
from controller.config import Config
from controller.config.governance_model import CredentialSource
from controller.privacy import caller_hash
from controller.recordings import LocalVault
from controller.store import SqliteStore
from tests.factories import receipted
from tests.sites import (
    PASSWORD,
    add_call,
    add_recording,
    load_site,
    open_site,
    wav_bytes,
    write_site,
)

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
NUMBER = "+33 6 12 34 56 78"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, SqliteStore, LocalVault, Path]]:
    config = load_site(write_site(tmp_path))
    store, vault = open_site(config)
    yield config, store, vault, tmp_path
    store.close()


def service_for(config: Config, store: SqliteStore, vault: LocalVault) -> AccessService:
    return AccessService(config, store, vault, FixedClock(T0 + dt.timedelta(days=1)))


def last(store: SqliteStore) -> tuple[str, str, str, str, dict[str, object]]:
    entry = list(store.access_entries())[-1]
    return entry.actor, entry.action, entry.result, entry.purpose, dict(entry.details)


# -- credentials ---------------------------------------------------------------------------
def test_password_hash_round_trip() -> None:
    encoded = hash_password("s3cret pass phrase", log2_n=14)
    assert encoded.startswith("scrypt$14$8$1$") and "s3cret" not in encoded
    assert verify_password("s3cret pass phrase", encoded)
    assert not verify_password("s3cret pass phrasE", encoded)
    assert encoded != hash_password("s3cret pass phrase", log2_n=14)  # salted
    with pytest.raises(ValueError):
        verify_password("x", "sha256$abc")


def test_low_scrypt_new_hashes_cost_at_least_2_17() -> None:
    """Low, scrypt (S1): new hashes used N = 2^15; now at least 2^17."""
    encoded = hash_password("s3cret pass phrase")
    assert int(encoded.split("$")[1]) >= 17
    assert verify_password("s3cret pass phrase", encoded)


def test_low_scrypt_stored_hash_below_2_14_is_refused_clearly(tmp_path: Path) -> None:
    """Low, scrypt: a stored hash with N = 2^10 was accepted; now it is refused with a
    message that says why and what to do, naming the key path, never the hash."""
    weak = "scrypt$10$8$1$" + "A" * 22 + "$" + "B" * 43
    with pytest.raises(ValueError, match=r"too weak \(scrypt N = 2\^10, at least 2\^14"):
        verify_password("x", weak)
    with pytest.raises(ValueError, match="below 2\\^14"):
        hash_password("x", log2_n=12)
    path = tmp_path / "weak.scrypt"
    path.write_text(weak + "\n")
    source = CredentialSource("password", "file", str(path), "access.persons.x.password_hash_file")
    with pytest.raises(CredentialError, match=r"access\.persons\.x\.password_hash_file: .*re"):
        check(source, Password("x"), {})


def test_token_hash_round_trip() -> None:
    encoded = hash_token("tok")
    assert verify_token("tok", encoded) and not verify_token("tok2", encoded)
    assert repr(Token("tok")) == "Token(***)" and repr(Password("pw")) == "Password(***)"


def test_unreadable_credential_names_the_key_path(tmp_path: Path) -> None:
    source = CredentialSource("password", "file", str(tmp_path / "absent"), "access.persons.x.f")
    with pytest.raises(CredentialError, match=r"^access\.persons\.x\.f: cannot read"):
        read_verifier(source)
    env = CredentialSource("token", "env", "NOPE", "access.persons.x.token_hash_env")
    with pytest.raises(CredentialError, match="NOPE is not set"):
        read_verifier(env, {})


def test_sign_in_with_token_and_password(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    config, store, vault, root = site
    service = service_for(config, store, vault)
    token = (root / "access" / "cdubois.token").read_text().strip()
    assert service.authenticate("cdubois", Token(token)).role == "dpo"
    with pytest.raises(AccessRefused):
        service.authenticate("cdubois", Token("wrong"))
    assert last(store)[:3] == ("cdubois", "sign_in", "refused")
    with pytest.raises(AccessRefused):
        service.authenticate("cdubois", Password(token))  # a token person has no password
    with pytest.raises(AccessRefused):
        service.authenticate("nobody", Token(token))
    # Low, web API: the id a client chose is never the entry's actor.
    assert last(store)[0] == "unknown" and last(store)[4] == {"reason": "unknown person"}

    person = config.access.persons["cdubois"]
    source = CredentialSource("password", "file", str(root / "access" / "cdubois.scrypt"), "k")
    with_password = dataclasses.replace(
        config,
        access=dataclasses.replace(
            config.access,
            persons={"cdubois": dataclasses.replace(person, credential=source)},
        ),
    )
    service = AccessService(with_password, store, vault, FixedClock(T0))
    assert service.authenticate("cdubois", Password(PASSWORD)).id == "cdubois"
    with pytest.raises(AccessRefused):
        service.authenticate("cdubois", Password("guess"))
    # Nothing secret reaches the log.
    assert not any(PASSWORD in json.dumps(e.content()) for e in store.access_entries())
    assert not any(token in json.dumps(e.content()) for e in store.access_entries())


# -- roles, scope, purpose -----------------------------------------------------------------
def test_listen_needs_role_scope_and_purpose(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    config, store, vault, _ = site
    service = service_for(config, store, vault)
    persons = config.access.persons
    _, sales = add_recording(store, vault, config, service="sales", created_at=T0)

    handle = service.listen(persons["snguyen"], "coaching session prep", sales)
    assert handle.path.exists() and handle.sha256
    assert last(store)[:4] == ("snguyen", "listen", "ok", "coaching session prep")

    with pytest.raises(AccessRefused, match="purpose must be stated"):
        service.listen(persons["snguyen"], "  ", sales)
    assert last(store)[:3] == ("snguyen", "listen", "refused")

    with pytest.raises(AccessRefused, match="at most 500 characters"):
        service.listen(persons["snguyen"], "why " * 200, sales)
    with pytest.raises(AccessRefused, match="role quality may not download"):
        service.download(persons["snguyen"], "keep a copy", sales)
    with pytest.raises(AccessRefused, match="role admin may not listen"):
        service.listen(persons["tadmin"], "checking the system", sales)
    # Outside the person's services: the same answer as no recording at all (S4: nobody
    # learns what exists outside their scope); the log keeps the true reason.
    with pytest.raises(AccessRefused, match=r"^no such recording$") as hidden:
        service.listen(persons["rlambert"], "coaching session prep", sales)
    assert hidden.value.error_id == NOT_FOUND
    assert last(store)[4] == {"reason": "service sales is outside the person's scope"}

    with pytest.raises(AccessRefused, match="phone or card numbers"):
        service.listen(persons["mleroy"], "caller 0612345678 complained", sales)
    assert "0612345678" not in json.dumps([e.content() for e in store.access_entries()])

    with pytest.raises(AccessRefused, match=r"^no such recording$") as missing:
        service.listen(persons["mleroy"], "coaching session prep", "nope")
    assert missing.value.error_id == NOT_FOUND


def test_listen_to_a_vanished_file_is_logged_as_an_error(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    config, store, vault, _ = site
    service = service_for(config, store, vault)
    _, rec_id = add_recording(store, vault, config, service="sales", created_at=T0)
    Path(str(store.recording(rec_id).path)).unlink()  # type: ignore[union-attr]
    with pytest.raises(AccessFailed):
        service.listen(config.access.persons["mleroy"], "coaching session prep", rec_id)
    assert last(store)[2] == "error"


def test_delete_on_request_leaves_a_receipt(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    config, store, vault, _ = site
    service = service_for(config, store, vault)
    _, rec_id = add_recording(store, vault, config, service="sales", created_at=T0)
    path = Path(str(store.recording(rec_id).path))  # type: ignore[union-attr]
    sha = store.recording(rec_id).sha256  # type: ignore[union-attr]
    with pytest.raises(AccessRefused):
        service.delete(config.access.persons["mleroy"], "no longer needed", rec_id)
    receipt = service.delete(config.access.persons["tadmin"], "recorded by mistake", rec_id)
    assert not path.exists() and store.recording(rec_id) is None
    assert receipt.actor == "tadmin" and receipt.purpose == "recorded by mistake"
    (deleted,) = receipted([receipt])
    assert deleted["recording_id"] == rec_id and receipt.target == f"recording:{rec_id}"
    assert deleted["sha256"] == sha and deleted["file"] == "deleted"
    assert store.receipt_of(rec_id) == receipt


# -- summary sheets (T2) -------------------------------------------------------------------
def test_sheet_create_read_edit_are_logged(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    config, store, vault, _ = site
    service = service_for(config, store, vault)
    mleroy, snguyen = config.access.persons["mleroy"], config.access.persons["snguyen"]
    call_id, rec_id = add_recording(store, vault, config, service="sales", created_at=T0)

    sheet = service.sheet_create(
        mleroy, "monthly evaluation", call_id, {"greeting": 4}, {"greeting": "warm"}, "Good."
    )
    assert (sheet.employee_id, sheet.employee_name) == ("alice", "Alice Martin")
    assert (sheet.evaluator_id, sheet.recording_id) == ("mleroy", rec_id)
    assert sheet.call_started_at == T0 and sheet.call_duration_seconds == 180
    assert sheet.expires_at == T0 + dt.timedelta(days=366)
    assert [s.score for s in sheet.scores] == [4, None]
    assert last(store)[:3] == ("mleroy", "sheet_create", "ok")

    view = service.sheet_read(snguyen, "monthly evaluation", sheet.id)
    assert view.recording_available and view.sheet.free_text == "Good."
    assert last(store)[:3] == ("snguyen", "sheet_read", "ok")

    edited = service.sheet_edit(snguyen, "second opinion", sheet.id, {"answer": 7}, {}, None)
    assert [s.score for s in edited.scores] == [4, 7] and edited.version == 2
    assert edited.scores[0].comment == "warm" and edited.free_text == "Good."
    assert last(store)[4] == {"changed": ["answer"], "free_text_changed": False}

    with pytest.raises(AccessRefused, match="score must be between 0 and 10"):
        service.sheet_edit(snguyen, "second opinion", sheet.id, {"answer": 11}, {}, None)
    with pytest.raises(AccessRefused, match="unknown criterion 'tone'"):
        service.sheet_edit(snguyen, "second opinion", sheet.id, {"tone": 1}, {}, None)
    with pytest.raises(AccessRefused, match="card number"):
        service.sheet_edit(snguyen, "second opinion", sheet.id, {}, {}, "card 4970 1012 3456 7890")
    with pytest.raises(AccessRefused, match=r"^no such sheet$"):
        service.sheet_read(config.access.persons["rlambert"], "just looking", sheet.id)
    with pytest.raises(AccessRefused, match="may not sheet_create"):
        service.sheet_create(config.access.persons["cdubois"], "evaluation", call_id, {}, {}, "")
    assert store.sheet(sheet.id).version == 2  # type: ignore[union-attr]


# -- export files (S2, C5) ---------------------------------------------------------------
def test_export_does_not_follow_a_planted_partial_symlink(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    """Regression (C5, S2): a ``.partial`` symlink planted in the export folder made the
    export overwrite its target. The export now writes a new file under a name nobody can
    guess and never writes through a link."""
    config, store, vault, root = site
    service = service_for(config, store, vault)
    dpo = config.access.persons["cdubois"]
    _, recording = add_recording(
        store, vault, config, service="sales", created_at=T0, number=NUMBER, audio=wav_bytes(0.1)
    )
    victim = root / "victim.conf"
    victim.write_text("precious\n")
    out = root / "export.zip"
    (root / f".{out.name}.partial").symlink_to(victim)

    result = service.export(dpo, "mediation ticket M-3", recording, out)

    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and zipfile.is_zipfile(out)
    assert result.recordings == 1 and out.stat().st_mode & 0o077 == 0
    assert not list(root.glob(f".{out.name}.*.partial"))


def test_export_never_replaces_a_file_planted_at_its_name(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    """A dangling symlink at the output name is refused, not written through (C5)."""
    config, store, vault, root = site
    service = service_for(config, store, vault)
    dpo = config.access.persons["cdubois"]
    out = root / "export.zip"
    out.symlink_to(root / "elsewhere.zip")
    with pytest.raises(AccessFailed, match="already exists"):
        service.subject_export(dpo, "access request ticket A-19", NUMBER, out)
    assert not (root / "elsewhere.zip").exists()


# -- data-subject requests (C5) ------------------------------------------------------------
def test_subject_export_and_erase_round_trip(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    config, store, vault, root = site
    service = service_for(config, store, vault)
    dpo = config.access.persons["cdubois"]
    audio = [wav_bytes(0.1), wav_bytes(0.2)]
    first_call, first = add_recording(
        store, vault, config, service="sales", created_at=T0, number=NUMBER, audio=audio[0]
    )
    _, second = add_recording(
        store,
        vault,
        config,
        service="support",
        created_at=T0 + dt.timedelta(hours=2),
        number="0033612345678",  # the same number, written another way
        audio=audio[1],
    )
    unrecorded = add_call(store, config, service="sales", started_at=T0, number=NUMBER)
    _, other = add_recording(store, vault, config, service="sales", created_at=T0, number="+3311")
    supervisor = config.access.persons["mleroy"]
    sheet = service.sheet_create(supervisor, "monthly evaluation", first_call, {}, {}, "Fine.")
    store.remember_objection(
        next(r.call for r in service.subject_find(dpo, "look up", NUMBER).calls)["caller_hash"],
        T0,
        365,
    )
    paths = [Path(str(store.recording(r).path)) for r in (first, second)]  # type: ignore[union-attr]

    found = service.subject_find(dpo, "access request ticket A-17", NUMBER)
    assert len(found.calls) == 3
    assert {r.id for r in found.recordings} == {first, second}
    assert found.sheet_ids == [sheet.id]
    entry = list(store.access_entries())[-1]
    assert entry.action == "subject_find" and entry.target.startswith("subject:")
    assert entry.details["calls"] == 3 and NUMBER not in json.dumps(entry.content())

    # The time range narrows the search.
    window = service.subject_find(
        dpo, "access request ticket A-17", NUMBER, T0 + dt.timedelta(hours=1), None
    )
    assert [r.id for r in window.recordings] == [second]

    with pytest.raises(AccessRefused, match="may not subject_export"):
        service.subject_export(supervisor, "curious", NUMBER, root / "x.zip")

    out = root / "export.zip"
    result = service.subject_export(dpo, "access request ticket A-17", NUMBER, out)
    assert (result.calls, result.recordings, result.sheets, result.problems) == (3, 2, 1, [])
    assert out.stat().st_mode & 0o077 == 0
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert names == {"metadata.json", f"recordings/{first}.wav", f"recordings/{second}.wav"}
        assert archive.read(f"recordings/{first}.wav") == audio[0]
        assert archive.read(f"recordings/{second}.wav") == audio[1]
        metadata = json.loads(archive.read("metadata.json"))
    assert metadata["requested_by"] == "cdubois" and metadata["request"]["number"] == NUMBER
    calls = {c["call"]["id"]: c for c in metadata["calls"]}
    assert calls[first_call]["recordings"][0]["sha256_matches"] is True
    assert calls[first_call]["sheets"][0]["free_text"] == "Fine."
    assert calls[first_call]["decision"] is None and calls[unrecorded]["recordings"] == []
    assert "caller_hash" not in json.dumps(metadata)
    with pytest.raises(AccessFailed, match="already exists"):
        service.subject_export(dpo, "access request ticket A-17", NUMBER, out)

    erased = service.subject_erase(dpo, "erasure request ticket A-18", NUMBER)
    assert (erased.calls, erased.recordings_deleted, erased.sheets_deleted) == (3, 2, 1)
    assert erased.objection_kept and erased.problems == []
    assert not any(p.exists() for p in paths)
    assert store.recording(first) is None and store.recording(second) is None
    assert store.sheet(sheet.id) is None
    # One receipt for the request, naming both recordings.
    (receipt,) = erased.receipts
    receipts = {r["recording_id"]: r for r in receipted(erased.receipts)}
    assert set(receipts) == {first, second}
    assert receipt.actor == "cdubois" and receipt.purpose == "erasure request ticket A-18"
    assert receipts[first]["rule"] == "C5: data-subject erasure request"

    after = service.subject_find(dpo, "check the erasure", NUMBER)
    assert after.calls == [] and after.recordings == [] and after.sheet_ids == []
    # Other callers are untouched; the calls still count for the sampling audit (P3).
    assert store.recording(other) is not None
    assert len(store.call_ids()) == 4
    assert store.verify_access_log(config.audit.checkpoint_key).ok


def test_subject_scope_hides_other_services(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    config, store, vault, _ = site
    dpo = config.access.persons["cdubois"]
    limited = dataclasses.replace(dpo, services=("sales",))
    service = service_for(config, store, vault)
    add_recording(store, vault, config, service="sales", created_at=T0, number=NUMBER)
    add_recording(store, vault, config, service="support", created_at=T0, number=NUMBER)
    found = service.subject_find(limited, "access request ticket A-19", NUMBER)
    assert len(found.calls) == 1 and found.hidden == 1
    with pytest.raises(AccessRefused, match="not a phone number"):
        service.subject_find(dpo, "access request ticket A-19", "anonymous")


def test_ids_typed_by_users_reach_the_log_intact_unless_they_look_like_numbers(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    config, store, vault, _ = site
    service = service_for(config, store, vault)
    person = config.access.persons["mleroy"]
    with pytest.raises(AccessRefused):
        service.listen(person, "coaching session prep", "0a1234567890123bcdef")
    assert list(store.access_entries())[-1].target == "recording:0a1234567890123bcdef"
    with pytest.raises(AccessRefused):
        service.listen(person, "coaching session prep", "+33 6 12 34 56 78")
    assert list(store.access_entries())[-1].target == "recording:[redacted]"
    with pytest.raises(AccessRefused):
        service.authenticate("0612345678", Password("x"))
    assert list(store.access_entries())[-1].actor == "unknown"


@pytest.mark.parametrize(
    "written",
    ["0612345678", "06 12 34 56 78", "+33 (0)6 12 34 56 78", "06.12.34.56.78", "0033612345678"],
)
def test_medium5_subject_find_matches_any_way_the_number_is_written(
    site: tuple[Config, SqliteStore, LocalVault, Path], written: str
) -> None:
    """Medium 5 (C5): a call of +33612345678 is found whichever way the DPO types the
    number, national or international, with any separators (default region FR)."""
    config, store, vault, _ = site
    service = service_for(config, store, vault)
    dpo = config.access.persons["cdubois"]
    call_id = add_call(store, config, service="sales", started_at=T0, number="+33612345678")
    found = service.subject_find(dpo, "access request ticket A-20", written)
    assert [c.call["id"] for c in found.calls] == [call_id]


def test_medium5_call_time_hash_is_e164_and_stable(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    """Medium 5: a caller id in national form is hashed as its E.164 form, and a number
    already in E.164 keeps the HMAC it was stored with."""
    config, *_ = site
    key = config.privacy.caller_hmac_key
    stored = hmac.new(key.reveal().encode(), b"+33612345678", hashlib.sha256).hexdigest()
    assert caller_hash(key, "+33612345678", "FR") == stored
    assert caller_hash(key, "0612345678", "FR") == stored
    assert caller_hash(key, "06 12 34 56 78", "FR") == stored
    assert caller_hash(key, "anonymous", "FR") is None
    assert caller_hash(key, "", "FR") is None
    # An internal extension still gets a stable hash, so its objection is remembered.
    assert caller_hash(key, "1001", "FR") == caller_hash(key, "1001", "FR") is not None


@pytest.mark.parametrize("typed", ["hello", "12", "06 12 34 5x"])
def test_medium5_unparseable_number_is_a_clear_error_not_zero_found(
    site: tuple[Config, SqliteStore, LocalVault, Path], typed: str
) -> None:
    """Medium 5: a number that cannot be parsed is refused with a clear reason (and the
    refusal logged without it), instead of "0 calls found"."""
    config, store, vault, _ = site
    service = service_for(config, store, vault)
    dpo = config.access.persons["cdubois"]
    with pytest.raises(AccessRefused, match=r"the number is not a .*phone number"):
        service.subject_find(dpo, "access request ticket A-21", typed)
    actor, action, result, _, details = last(store)
    assert (actor, action, result) == ("cdubois", "subject_find", "refused")
    assert typed not in json.dumps(details)


def test_medium5_default_region_is_configured(tmp_path: Path) -> None:
    """Medium 5: the default region comes from privacy.default_region (FR if absent);
    an unknown code is a config error naming the key."""
    from controller.config import ConfigError, load_config
    from tests.sites import ENV, site_config

    data = site_config(tmp_path)
    data["privacy"]["default_region"] = "BE"
    config = load_site(write_site(tmp_path, data))
    assert config.privacy.default_region == "BE"
    data["privacy"]["default_region"] = "XX"
    path = write_site(tmp_path, data)
    with pytest.raises(ConfigError, match=r"privacy\.default_region: must be a region code"):
        load_config(path, environ=ENV)


# -- links planted in the vault (S4) -------------------------------------------------------
SECRET = b"root:$6$precious-shadow-line:19000:0:99999:7:::\n"


def plant_link(store: SqliteStore, recording_id: str, root: Path) -> Path:
    """Replaces a recording's vault file with a symlink to a file elsewhere, as whoever
    could write the vault would; returns the file pointed at."""
    target = root / "elsewhere" / "shadow"
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(SECRET)
    path = Path(str(store.recording(recording_id).path))  # type: ignore[union-attr]
    path.unlink()
    path.symlink_to(target)
    return target


def zip_holds_nothing_of(out: Path, recording_id: str) -> None:
    with zipfile.ZipFile(out) as archive:
        assert f"recordings/{recording_id}.wav" not in archive.namelist()
        assert not any(SECRET in archive.read(name) for name in archive.namelist())


def test_export_of_one_recording_refuses_a_link_planted_in_the_vault_S4(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    """S4: a recording's vault file replaced by a symlink to a file elsewhere is refused
    (``vault-file-refused``), nothing of the file pointed at reaches the zip, and the
    export is logged as an error."""
    config, store, vault, root = site
    service = service_for(config, store, vault)
    dpo = config.access.persons["cdubois"]
    _, recording = add_recording(store, vault, config, service="sales", created_at=T0)
    plant_link(store, recording, root)
    out = root / "one.zip"
    result = service.export(dpo, "mediation ticket M-4", recording, out)
    assert result.recordings == 0
    assert len(result.problems) == 1 and "vault-file-refused" in result.problems[0]
    assert "is a symbolic link" in result.problems[0]
    zip_holds_nothing_of(out, recording)
    assert last(store)[:3] == ("cdubois", "export", "error")


def test_subject_export_refuses_a_link_planted_in_the_vault_S4(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    """S4 (C5): the subject export copies the caller's sound recordings and refuses the
    one whose vault file was replaced by a symlink: nothing of its target is exported."""
    config, store, vault, root = site
    service = service_for(config, store, vault)
    dpo = config.access.persons["cdubois"]
    audio = wav_bytes(0.1)
    _, kept = add_recording(
        store, vault, config, service="sales", created_at=T0, number=NUMBER, audio=audio
    )
    _, planted = add_recording(
        store, vault, config, service="sales", created_at=T0, number=NUMBER
    )
    plant_link(store, planted, root)
    out = root / "subject.zip"
    result = service.subject_export(dpo, "access request ticket A-22", NUMBER, out)
    assert result.recordings == 1
    assert [p for p in result.problems if "vault-file-refused" in p] == result.problems
    assert len(result.problems) == 1 and planted in result.problems[0]
    zip_holds_nothing_of(out, planted)
    with zipfile.ZipFile(out) as archive:
        assert archive.read(f"recordings/{kept}.wav") == audio


def test_download_refuses_a_link_planted_in_the_vault_S4(
    site: tuple[Config, SqliteStore, LocalVault, Path],
) -> None:
    """S4: a download of a recording whose vault file is a planted symlink is refused
    before it is logged as served: the access log says error (``vault-file-refused``)."""
    config, store, vault, root = site
    service = service_for(config, store, vault)
    supervisor = config.access.persons["mleroy"]
    _, recording = add_recording(store, vault, config, service="sales", created_at=T0)
    plant_link(store, recording, root)
    with pytest.raises(AccessFailed, match=r"vault-file-refused: .* is a symbolic link"):
        service.download(supervisor, "coaching session prep", recording)
    _, action, result, _, details = last(store)
    assert (action, result, details["reason"]) == ("download", "error", "vault-file-refused")
