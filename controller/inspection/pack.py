"""The inspection pack (D3): everything a CNIL inspection of a period asks for, from the
config and the store, in one folder with a signed manifest.

The folder holds the documents (register, notices, DPIA), the sampling audit of the
period, the access log of the period with the verdict on the whole chain and its signed
head, the deletion receipts, the alerts, the configurations in force and the legal holds
that stood during the period. It holds personal data (the access log names people): it is
created for its owner only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller import __version__
from controller.audit.chain import Entry, WitnessLine, parse_witness
from controller.audit.witness_line import witness_line
from controller.config import Config
from controller.documents import (
    build_agent_notice,
    build_caller_notice,
    build_dpia,
    build_register,
    render,
)
from controller.inspection.manifest import (
    MANIFEST,
    PackFile,
    PackManifest,
    PackManifestError,
    file_problems,
    parse_text,
    signature_problem,
    signed,
)
from controller.secrets import Secret
from controller.store import SqliteStore
from controller.store.inspection import DELETION_ACTIONS
from controller.store.records import SamplingAudit
from controller.store.timestamps import to_text

FOLDER_MODE = 0o700
FILE_MODE = 0o600


class PackRefused(Exception):
    """The pack cannot be made as asked (the folder is not empty, the period is empty);
    nothing was written."""

    error_id = "inspection-pack-refused"


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime
    """The first moment after the period."""


@dataclass(frozen=True)
class PackSummary:
    folder: Path
    files: tuple[str, ...]
    entries: int
    receipts: int
    alerts: int
    configs: int
    holds: int
    log_ok: bool
    signed: bool


@dataclass(frozen=True)
class PackVerdict:
    ok: bool
    signed: bool
    files: int
    problems: tuple[str, ...]


# -- pure parts ---------------------------------------------------------------------------
def sampling_table(config: Config, rows: Sequence[SamplingAudit]) -> list[str]:
    """Configured against achieved rate, one line per service (P3); services without a
    decision show their configured rate and zeros."""
    lines = [
        f"{'service':<16} {'configured':>10} {'achieved':>9} {'draws':>6} {'sampled':>8} "
        f"{'calls':>6}"
    ]
    for row in rows:
        lines.append(
            f"{row.service:<16} {row.configured_rate:>10.3f} {row.achieved_rate:>9.3f} "
            f"{row.draws:>6} {row.sampled:>8} {row.calls:>6}"
        )
    for name, service in config.services.items():
        if not any(r.service == name for r in rows):
            lines.append(f"{name:<16} {service.sampling_rate:>10.3f} {'-':>9} {0:>6} {0:>8} {0:>6}")
    return lines


def entry_json(entry: Entry) -> dict[str, Any]:
    """An access-log entry as exported: every field its hash and MAC cover."""
    return entry.content() | {"hash": entry.hash, "mac": entry.mac}


def json_lines(rows: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)


def is_receipt(entry: Entry) -> bool:
    return entry.action in DELETION_ACTIONS


# -- writing ------------------------------------------------------------------------------
def _prepare_folder(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise PackRefused(f"{out} exists and is not a folder")
        if any(out.iterdir()):
            raise PackRefused(
                f"{out} is not empty: a pack goes into a new or empty folder, so nothing "
                "unlisted is mixed with it"
            )
    out.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    out.chmod(FOLDER_MODE)


def _write(out: Path, name: str, text: str) -> PackFile:
    data = text.encode("utf-8")
    fd = os.open(out / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return PackFile(name, len(data), hashlib.sha256(data).hexdigest())


def _witness(config: Config) -> tuple[list[WitnessLine] | None, str]:
    """The witness file's lines for the verdict, or None and why not."""
    path = config.audit.witness_file
    if path is None:
        return None, "no witness file configured (audit.witness_file)"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, f"the witness file {path} does not exist yet"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"the witness file {path} cannot be read: {exc}"
    lines, bad = parse_witness(text.splitlines())
    if bad is not None:
        return None, f"the witness file {path}, line {bad[0]}: {bad[1]}"
    return lines, f"checked against the witness file {path}"


def make_pack(
    config: Config,
    store: SqliteStore,
    period: Period,
    out: Path,
    now: dt.datetime,
    lang: str,
) -> PackSummary:
    """Writes the pack of ``period`` into ``out`` (new or empty) and its signed manifest."""
    if period.end <= period.start:
        raise PackRefused("the period is empty: --to must be after --from")
    key = config.audit.checkpoint_key
    # Everything is read before anything is written, so a store error leaves no half pack.
    entries = store.access_entries_between(period.start, period.end)
    alerts = store.alerts_between(period.start, period.end)
    sampling = store.sampling_audit_between(period.start, period.end)
    loads = store.configs_in_force(period.start, period.end)
    texts = {load.sha256: store.config_text(load.sha256) for load in loads}
    holds = store.holds_between(period.start, period.end)
    witness, witness_note = _witness(config)
    verdict = store.verify_access_log(key, None, witness, config.audit.retention_days)
    head = store.audit_head()
    key_start = store.audit_key_start()

    _prepare_folder(out)
    files: list[PackFile] = []

    def add(name: str, text: str) -> None:
        files.append(_write(out, name, text))

    documents = {
        "register": build_register(config, lang),
        "notice-callers": build_caller_notice(config, lang),
        "notice-agents": build_agent_notice(config, None, lang),
        "dpia": build_dpia(config, lang),
    }
    for name, document in documents.items():
        for fmt in ("md", "html"):
            add(f"{name}.{fmt}", render(document, fmt))

    add("sampling-audit.txt", "\n".join(sampling_table(config, sampling)) + "\n")
    add(
        "sampling-audit.json",
        json.dumps(
            [
                {
                    "service": row.service,
                    "configured_rate": row.configured_rate,
                    "achieved_rate": row.achieved_rate,
                    "draws": row.draws,
                    "sampled": row.sampled,
                    "calls": row.calls,
                }
                for row in sampling
            ],
            indent=2,
        )
        + "\n",
    )
    add("access-log.jsonl", json_lines(entry_json(e) for e in entries))
    receipts = [e for e in entries if is_receipt(e)]
    add("purge-receipts.jsonl", json_lines(entry_json(e) for e in receipts))
    add(
        "access-log-verification.json",
        json.dumps(
            {
                "ok": verdict.ok,
                "verdict": verdict.describe(),
                "notes": list(verdict.notes),
                "keyed": key is not None,
                "witness": witness_note,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
    )
    add(
        "signed-head.json",
        witness_line(to_text(now), head, key, key_start.mac if key_start else None) + "\n",
    )
    add("alerts.jsonl", json_lines(alerts))
    history = []
    for load in loads:
        name = f"config-{load.sha256}.yaml"
        history.append({"loaded_at": load.loaded_at, "sha256": load.sha256, "file": name})
        if name not in {f.name for f in files}:
            add(name, texts[load.sha256] or "")
    add("config-history.jsonl", json_lines(history))
    add("legal-holds.jsonl", json_lines(holds))

    summary = {
        "period": {"from": to_text(period.start), "to": to_text(period.end)},
        "created_at": to_text(now),
        "access_log_entries": len(entries),
        "deletion_receipts": len(receipts),
        "alerts": len(alerts),
        "configurations_in_force": len(loads),
        "legal_holds": len(holds),
        "access_log_ok": verdict.ok,
        "access_log_head": {"seq": head[0], "hash": head[1]},
    }
    add("summary.json", json.dumps(summary, indent=2) + "\n")
    add("README.md", _readme(config, period, now, files, lang))

    manifest = signed(
        PackManifest(
            created_at=to_text(now),
            period_from=to_text(period.start),
            period_to=to_text(period.end),
            reccontrol_version=__version__,
            files=tuple(files),
            signature=None,
        ),
        key,
    )
    _write(out, MANIFEST, json.dumps(manifest.to_json(), indent=2) + "\n")
    return PackSummary(
        folder=out,
        files=tuple(f.name for f in files),
        entries=len(entries),
        receipts=len(receipts),
        alerts=len(alerts),
        configs=len(loads),
        holds=len(holds),
        log_ok=verdict.ok,
        signed=key is not None,
    )


_PARTS = (
    ("register", "Registre (art. 30 RGPD)", "Record of processing (GDPR Art. 30)"),
    ("notice-callers", "Notice des appelants", "Callers' notice"),
    ("notice-agents", "Notice des téléconseillers", "Agents' notice"),
    ("dpia", "Analyse d'impact (art. 35 RGPD)", "Impact assessment (GDPR Art. 35)"),
    ("sampling-audit", "Échantillonnage : configuré et obtenu", "Sampling: configured vs achieved"),
    ("access-log", "Journal des accès de la période", "Access log of the period"),
    ("access-log-verification", "Vérification du journal", "Access log verification"),
    ("signed-head", "Tête signée du journal", "Signed head of the log"),
    ("purge-receipts", "Reçus de suppression", "Deletion receipts"),
    ("alerts", "Alertes de la période", "Alerts of the period"),
    ("config-history", "Configurations en vigueur", "Configurations in force"),
    ("legal-holds", "Gels juridiques en vigueur", "Legal holds in force"),
    ("summary", "Décompte", "Counts"),
)


def _readme(
    config: Config,
    period: Period,
    now: dt.datetime,
    files: Sequence[PackFile],
    lang: str,
) -> str:
    english = lang == "en"
    names = [f.name for f in files]
    lines = [
        "# "
        + (
            f"Inspection pack, {config.organisation.name}"
            if english
            else f"Dossier de contrôle, {config.organisation.name}"
        ),
        "",
        (f"Period: {to_text(period.start)} to {to_text(period.end)} (UTC, end excluded)."
         if english
         else f"Période : du {to_text(period.start)} au {to_text(period.end)} (UTC, fin exclue)."),
        (f"Made: {to_text(now)}." if english else f"Établi le : {to_text(now)}."),
        "",
    ]
    colon = ": " if english else " : "
    for stem, fr, en in _PARTS:
        mine = [n for n in names if n.split(".")[0] == stem]
        if stem == "config-history":
            mine += [n for n in names if n.startswith("config-") and n.endswith(".yaml")]
        if mine:
            lines.append(f"- {en if english else fr}{colon}{', '.join(mine)}")
    lines += [
        "",
        (
            "manifest.json lists every file with its SHA-256 and is signed with the audit "
            "key; check it with: reccontrol inspection-pack -c FILE --verify FOLDER"
            if english
            else "manifest.json liste chaque fichier avec son SHA-256 et est signé avec la "
            "clé d'audit ; vérification : reccontrol inspection-pack -c FICHIER --verify DOSSIER"
        ),
    ]
    return "\n".join(lines) + "\n"


# -- checking -----------------------------------------------------------------------------
def _digest(path: Path) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 16):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def verify_pack(folder: Path, key: Secret | None) -> PackVerdict:
    """Checks the pack in ``folder``: the manifest's signature (with ``key``) and every
    file against it; a file missing, changed or added is named."""
    try:
        text = (folder / MANIFEST).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return PackVerdict(False, False, 0, (f"{folder / MANIFEST}: cannot be read: {exc}",))
    try:
        manifest = parse_text(text)
    except PackManifestError as exc:
        return PackVerdict(False, False, 0, (str(exc),))
    problems: list[str] = []
    if key is not None:
        problem = signature_problem(manifest, key)
        if problem:
            problems.append(problem)
    present: dict[str, tuple[int, str]] = {}
    try:
        children = sorted(folder.iterdir())
    except OSError as exc:
        return PackVerdict(False, False, 0, (f"{folder}: cannot be listed: {exc}",))
    for child in children:
        if child.name == MANIFEST:
            continue
        if not child.is_file() or child.is_symlink():
            problems.append(f"{child.name}: not a plain file")
            continue
        present[child.name] = _digest(child)
    problems += file_problems(manifest, present)
    return PackVerdict(
        not problems, key is not None and manifest.signature is not None,
        len(manifest.files), tuple(problems)
    )
