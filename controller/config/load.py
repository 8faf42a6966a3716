"""Loads the YAML file into :class:`~controller.config.model.Config`.

Every problem is reported with its key path, e.g.
``services.sales.sampling.rate: must be > 0 and < 1 (record-all needs an exemption)``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from controller.config.model import (
    ALL_SERVICES,
    DAY_NAMES,
    DEFAULT_CRITERIA,
    MAX_ACCESS_LOG_RETENTION_DAYS,
    MAX_RECORDING_RETENTION_DAYS,
    MAX_SHEET_RETENTION_DAYS,
    MIN_ACCESS_LOG_RETENTION_DAYS,
    PURPOSES,
    ROLES,
    AccessSettings,
    Agent,
    AgentKeys,
    Announcement,
    AriSettings,
    AuditSettings,
    CallerKeys,
    Campaign,
    Config,
    CredentialSource,
    Criterion,
    Exemption,
    LegalSettings,
    LoggingSettings,
    Organisation,
    PauseSettings,
    PaymentPrompts,
    PaymentSettings,
    Person,
    PrivacySettings,
    PrivateCalls,
    PurgeSettings,
    PurposeBasis,
    ReconnectSettings,
    RecordingSettings,
    Service,
    SheetSettings,
    StoreSettings,
    Transfer,
    WatchdogSettings,
    WebSettings,
    WeeklyWindow,
)
from controller.config.reader import MISSING, Node, Problem, Problems
from controller.secrets import Secret

NAME_PATTERN = r"[a-z][a-z0-9_-]{0,31}"
NAME_HINT = "names use lower-case letters, digits, '-' and '_', start with a letter"
CALLER_KEY_PATTERN = r"[0-9*#]"
SEQUENCE_PATTERN = r"[0-9*#]{2,4}"
SOUND_PATTERN = r"[A-Za-z0-9_./-]+"


class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# -- YAML parsing --------------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one silently."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = exc.problem or "cannot be parsed"
        raise ConfigError([Problem("", f"{where}: YAML syntax error: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("", f"{source}: YAML syntax error: {exc}")]) from None


# -- helpers -------------------------------------------------------------------------
def _secret(node: Node, stem: str, environ: dict[str, str] | os._Environ[str]) -> Secret | None:
    """Reads ``<stem>_env`` or ``<stem>_file``; the secret itself never sits in the YAML (S5)."""
    env_node, file_node = node[f"{stem}_env"], node[f"{stem}_file"]
    if node[stem].present:
        node[stem].fail(
            f"secrets are not written in the YAML; name an environment variable with "
            f"'{stem}_env' or a file with '{stem}_file'"
        )
        return None
    if env_node.present and file_node.present:
        node[f"{stem}_env"].fail(f"give either '{stem}_env' or '{stem}_file', not both")
        return None
    if env_node.present:
        name = env_node.string(
            pattern=r"[A-Za-z_][A-Za-z0-9_]*", pattern_hint="must be an environment variable name"
        )
        value = environ.get(name, "")
        if not value:
            env_node.fail(f"environment variable {name} is not set or is empty")
            return None
        return Secret(value, f"env:{name}")
    if file_node.present:
        path = Path(file_node.string())
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            file_node.fail(f"cannot read {path}: {exc.strerror or exc}")
            return None
        if not value:
            file_node.fail(f"{path} is empty")
            return None
        return Secret(value, f"file:{path}")
    node.problems.add(node.child_path(f"{stem}_env"), f"is required (or '{stem}_file')")
    return None


_DAY_RANGE = re.compile(r"(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?")


def _days(node: Node) -> frozenset[int]:
    raw = node.value
    if raw is MISSING or raw is None:
        node.fail("is required (e.g. mon-fri, or [mon, wed, sat])")
        return frozenset()
    parts: list[str] = []
    if isinstance(raw, str):
        parts = [p.strip() for p in raw.lower().split(",")]
    elif isinstance(raw, list) and all(isinstance(p, str) for p in raw):
        parts = [p.strip().lower() for p in raw]
    else:
        node.fail("must be day names such as mon-fri or [mon, wed, sat]")
        return frozenset()
    days: set[int] = set()
    for part in parts:
        if part in ("daily", "all"):
            days.update(range(7))
            continue
        match = _DAY_RANGE.fullmatch(part)
        if not match:
            node.fail(f"unknown day {part!r}; use {', '.join(DAY_NAMES)} or ranges like mon-fri")
            continue
        first = DAY_NAMES.index(match.group(1))
        last = DAY_NAMES.index(match.group(2)) if match.group(2) else first
        day = first
        while True:
            days.add(day)
            if day == last:
                break
            day = (day + 1) % 7
    return frozenset(days)


def _time(node: Node) -> dt.time:
    text = node.string(
        pattern=r"([01]\d|2[0-3]):[0-5]\d|24:00",
        pattern_hint='must be a time written HH:MM, e.g. "09:00"',
    )
    if not isinstance(text, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", text):
        return dt.time(0)
    if text == "24:00":
        # The end of the day, so "00:00" to "24:00" is a whole day.
        return dt.time.max
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


def _window(node: Node) -> WeeklyWindow:
    if not node.mapping(("days", "from", "to"), required=("days", "from", "to")):
        return WeeklyWindow(frozenset(), dt.time(0), dt.time(0))
    start, end = _time(node["from"]), _time(node["to"])
    if start == end and node["from"].present and node["to"].present:
        node["to"].fail("must differ from 'from' (an empty window records nothing)")
    return WeeklyWindow(_days(node["days"]), start, end)


# -- sections ------------------------------------------------------------------------
def _organisation(node: Node) -> Organisation:
    node.mapping(("name", "address", "dpo", "complaint_authority"), required=("name", "dpo"))
    dpo = node["dpo"]
    if dpo.present:
        dpo.mapping(("name", "email", "address"), required=("name", "email"))
    return Organisation(
        name=node["name"].string(""),
        address=node["address"].string(""),
        dpo_name=dpo["name"].string(""),
        dpo_email=dpo["email"].string(
            "", pattern=r"[^@\s]+@[^@\s]+", pattern_hint="must be an e-mail address"
        ),
        dpo_address=dpo["address"].string(""),
        complaint_authority=node["complaint_authority"].string(
            "CNIL, 3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07, www.cnil.fr"
        ),
    )


def _ari(node: Node, environ: dict[str, str] | os._Environ[str]) -> AriSettings | None:
    if not node.mapping(
        (
            "url",
            "username",
            "password",
            "password_env",
            "password_file",
            "app",
            "request_timeout",
            "reconnect",
            "event_log",
            "watchdog",
        ),
        required=("url", "username"),
    ):
        return None
    url = node["url"].string("")
    parts = urlsplit(url)
    if url and (parts.scheme not in ("http", "https") or not parts.hostname):
        node["url"].fail(
            f"must be an http:// or https:// URL of Asterisk's HTTP server; got {url!r}"
        )
    if parts.username or parts.password:
        node["url"].fail("must not carry credentials; use 'username' and 'password_env'")
    reconnect = node["reconnect"]
    initial, maximum = 0.5, 30.0
    if reconnect.present and reconnect.mapping(("initial_delay", "max_delay")):
        initial = reconnect["initial_delay"].number(0.5, minimum=0.01, maximum=60)
        maximum = reconnect["max_delay"].number(30.0, minimum=0.1, maximum=600)
        if maximum < initial:
            reconnect["max_delay"].fail(f"must be >= initial_delay ({initial:g})")
    watchdog = node["watchdog"]
    interval, timeout = 15.0, 5.0
    if watchdog.present and watchdog.mapping(("interval", "timeout")):
        interval = watchdog["interval"].number(15.0, minimum=0.05, maximum=3600)
        timeout = watchdog["timeout"].number(5.0, minimum=0.05, maximum=600)
    password = _secret(node, "password", environ)
    event_log = node["event_log"].string(None)
    return AriSettings(
        url=url.rstrip("/"),
        username=node["username"].string(""),
        password=password or Secret(""),
        app=node["app"].string(
            "reccontrol",
            pattern=r"[A-Za-z0-9_.-]+",
            pattern_hint="must be an ARI application name (letters, digits, . _ -)",
        ),
        request_timeout=node["request_timeout"].number(5.0, minimum=0.1, maximum=120),
        reconnect=ReconnectSettings(initial, maximum),
        event_log=Path(event_log) if event_log else None,
        watchdog=WatchdogSettings(interval, timeout),
    )


def _agent(name: str, node: Node) -> Agent:
    node.mapping(
        ("name", "endpoints", "windows", "protected", "protection_reason", "private_lines"),
        required=("name", "endpoints", "windows"),
    )
    protected = node["protected"].boolean(False)
    reason = node["protection_reason"].string("")
    if protected and not reason:
        node["protection_reason"].fail(
            "is required when protected is true (e.g. 'staff representative' or "
            "'objected for a legitimate reason')"
        )
    windows = node["windows"].each(_window)
    if node["windows"].present and not windows:
        node["windows"].fail("must list at least one published recording period (A1)")
    return Agent(
        id=name,
        name=node["name"].string(""),
        endpoints=node["endpoints"].string_list(()),
        windows=windows,
        protected=protected,
        protection_reason=reason,
        private_lines=node["private_lines"].string_list((), allow_empty=True),
    )


def _service(name: str, node: Node) -> Service | None:
    if not node.mapping(
        (
            "label",
            "language",
            "purposes",
            "announcement",
            "full_notice",
            "caller_keys",
            "sampling",
            "exemption",
            "campaign",
            "windows",
            "target",
            "answer_timeout",
            "retention_days",
            "no_agent_sound",
            "pause",
            "payments",
        ),
        required=("language", "purposes", "announcement", "full_notice", "target"),
    ):
        return None
    exemption: Exemption | None = None
    if node["exemption"].present and node["exemption"].mapping(
        ("legal_basis",), required=("legal_basis",)
    ):
        basis = node["exemption"]["legal_basis"].string("")
        if basis and len(basis.strip()) < 20:
            node["exemption"]["legal_basis"].fail(
                "must state the written legal basis in full (at least 20 characters)"
            )
        exemption = Exemption(basis)

    # P1/P2: proportionality. Recording every call is only allowed with an exemption.
    sampling = node["sampling"]
    rate = 1.0
    if not sampling.present:
        if exemption is None:
            sampling.fail(
                "is required: without sampling every call is recorded, which needs an "
                f"exemption with a written legal basis (services.{name}.exemption.legal_basis)"
            )
    elif sampling.mapping(("rate",), required=("rate",)):
        value = sampling["rate"].value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rate = float(value)
            if exemption is None and not 0 < rate < 1:
                sampling["rate"].fail("must be > 0 and < 1 (record-all needs an exemption)")
            elif exemption is not None and not 0 < rate <= 1:
                sampling["rate"].fail("must be > 0 and <= 1")
        elif sampling["rate"].present:
            sampling["rate"].fail(f"must be a number between 0 and 1; got {value!r}")

    retention = node["retention_days"].integer(90, minimum=1)
    if (
        isinstance(retention, int)
        and retention > MAX_RECORDING_RETENTION_DAYS
        and exemption is None
    ):
        node["retention_days"].fail(
            f"must be <= {MAX_RECORDING_RETENTION_DAYS} (6 months); keeping recordings longer "
            "needs an exemption"
        )

    purposes = node["purposes"].string_list(())
    for index, purpose in enumerate(purposes):
        if purpose not in PURPOSES:
            node.problems.add(
                node["purposes"].child_path(index),
                f"unknown purpose {purpose!r}; use {', '.join(PURPOSES)}",
            )

    ann = node["announcement"]
    announcement = Announcement("", "")
    if ann.mapping(("sound", "version"), required=("sound", "version")):
        announcement = Announcement(
            ann["sound"].string(
                "",
                pattern=SOUND_PATTERN,
                pattern_hint="must be an Asterisk sound name such as reccontrol/fr/announcement",
            ),
            ann["version"].string(""),
        )

    keys = CallerKeys()
    ck = node["caller_keys"]
    if ck.present and ck.mapping(("opt_out", "full_notice")):
        keys = CallerKeys(
            opt_out=ck["opt_out"].string(
                "9", pattern=CALLER_KEY_PATTERN, pattern_hint="must be one DTMF key: 0-9, * or #"
            ),
            full_notice=ck["full_notice"].string(
                "0", pattern=CALLER_KEY_PATTERN, pattern_hint="must be one DTMF key: 0-9, * or #"
            ),
        )
        if keys.opt_out == keys.full_notice:
            ck["full_notice"].fail(f"must differ from opt_out ({keys.opt_out!r})")

    campaign = Campaign()
    camp = node["campaign"]
    if camp.present and camp.mapping(("start", "end")):
        campaign = Campaign(camp["start"].date(None), camp["end"].date(None))
        if campaign.start and campaign.end and campaign.end < campaign.start:
            camp["end"].fail(f"must not be before start ({campaign.start})")

    target = node["target"].string("")
    if target and not re.fullmatch(r"(PJSIP|SIP|IAX2|DAHDI|Local)/\S+", target):
        node["target"].fail(
            "must be an Asterisk dial string such as PJSIP/alice or Local/sales@queues; "
            f"got {target!r}"
        )

    return Service(
        name=name,
        label=node["label"].string(name),
        language=node["language"].string(
            "",
            pattern=r"[a-z]{2}(_[A-Z]{2})?",
            pattern_hint="must be a language code such as fr or en",
        ),
        purposes=purposes,
        announcement=announcement,
        full_notice_sound=node["full_notice"].string(
            "", pattern=SOUND_PATTERN, pattern_hint="must be an Asterisk sound name"
        ),
        caller_keys=keys,
        sampling_rate=rate,
        target=target,
        answer_timeout=node["answer_timeout"].integer(30, minimum=5, maximum=600),
        retention_days=retention if isinstance(retention, int) else 90,
        campaign=campaign,
        windows=node["windows"].each(_window),
        exemption=exemption,
        no_agent_sound=node["no_agent_sound"].string(
            "sorry", pattern=SOUND_PATTERN, pattern_hint="must be an Asterisk sound name"
        ),
        pause=_pause(node["pause"]),
        payments=node["payments"].boolean(False),
    )


def _pause(node: Node) -> PauseSettings:
    if not node.present or not node.mapping(
        ("mode", "max_seconds", "card_max_seconds", "card_resume")
    ):
        return PauseSettings()
    mode = node["mode"].string("skip", choices=("skip", "silence"))
    card_resume = node["card_resume"].string(
        "key_or_timeout", choices=("key_or_timeout", "timeout")
    )
    return PauseSettings(
        mode="silence" if mode == "silence" else "skip",
        max_seconds=node["max_seconds"].integer(120, minimum=5, maximum=3600),
        card_max_seconds=node["card_max_seconds"].integer(120, minimum=5, maximum=3600),
        card_resume="timeout" if card_resume == "timeout" else "key_or_timeout",
    )


PROMPTS = ("number", "expiry", "cvv", "invalid", "approved", "declined", "unavailable")


def _payment(node: Node, environ: dict[str, str] | os._Environ[str]) -> PaymentSettings | None:
    if not node.present:
        return None
    if not node.mapping(
        (
            "api_url",
            "ca_bundle",
            "token",
            "token_env",
            "token_file",
            "timeout",
            "max_attempts",
            "currency",
            "max_amount",
            "prompts",
            "first_digit_timeout",
            "digit_timeout",
            "max_entry_attempts",
            "hold_music_class",
        ),
        required=("api_url", "prompts"),
    ):
        return None
    url = node["api_url"].string("")
    parts = urlsplit(url)
    if url and (parts.scheme != "https" or not parts.hostname):
        node["api_url"].fail("must be an https:// URL: card data only ever travels encrypted (M1)")
    ca_bundle = node["ca_bundle"].string(None)
    if ca_bundle and not Path(ca_bundle).is_file():
        node["ca_bundle"].fail(f"{ca_bundle} is not a readable file")
    token: Secret | None = None
    if node["token"].present or node["token_env"].present or node["token_file"].present:
        token = _secret(node, "token", environ)
    prompts_node = node["prompts"]
    sounds = dict.fromkeys(PROMPTS, "")
    if prompts_node.mapping(PROMPTS, required=PROMPTS):
        for key in PROMPTS:
            sounds[key] = prompts_node[key].string(
                "", pattern=SOUND_PATTERN, pattern_hint="must be an Asterisk sound name"
            )
    max_amount = Decimal("10000")
    if node["max_amount"].present:
        try:
            max_amount = Decimal(str(node["max_amount"].value))
            if max_amount <= 0:
                raise InvalidOperation
        except InvalidOperation:
            node["max_amount"].fail("must be a positive amount such as 5000 or 499.99")
    return PaymentSettings(
        api_url=url,
        prompts=PaymentPrompts(**sounds),
        ca_bundle=Path(ca_bundle) if ca_bundle else None,
        token=token,
        timeout=node["timeout"].number(10.0, minimum=1, maximum=60),
        max_attempts=node["max_attempts"].integer(2, minimum=1, maximum=5),
        currency=node["currency"].string(
            "EUR", pattern=r"[A-Z]{3}", pattern_hint="must be an ISO 4217 code such as EUR"
        ),
        max_amount=max_amount,
        first_digit_timeout=node["first_digit_timeout"].number(10.0, minimum=2, maximum=60),
        digit_timeout=node["digit_timeout"].number(5.0, minimum=1, maximum=30),
        max_entry_attempts=node["max_entry_attempts"].integer(3, minimum=1, maximum=5),
        hold_music_class=node["hold_music_class"].string("default"),
    )


def _agent_keys(node: Node, services: dict[str, Service]) -> AgentKeys:
    """Agent key sequences: well-formed, none a prefix of another, none starting with a
    key that callers press (opt-out, full notice)."""
    defaults = AgentKeys()
    if not node.present or not node.mapping(
        (*defaults.sequences(), "inter_digit_timeout", "ok_sound", "refused_sound")
    ):
        return defaults
    hint = 'must be 2 to 4 DTMF keys (0-9, * or #), e.g. "*2"'
    sequences = {
        action: node[action].string(default, pattern=SEQUENCE_PATTERN, pattern_hint=hint)
        for action, default in defaults.sequences().items()
    }
    caller_keys: dict[str, str] = {}
    for service in services.values():
        caller_keys.setdefault(
            service.caller_keys.opt_out, f"services.{service.name}.caller_keys.opt_out"
        )
        caller_keys.setdefault(
            service.caller_keys.full_notice, f"services.{service.name}.caller_keys.full_notice"
        )
    actions = list(sequences)
    for i, action in enumerate(actions):
        seq = sequences[action]
        if not isinstance(seq, str) or not re.fullmatch(SEQUENCE_PATTERN, seq):
            continue
        if seq[0] in caller_keys:
            node[action].fail(
                f"starts with {seq[0]!r}, a caller key ({caller_keys[seq[0]]}); agent "
                "sequences must not begin with a key callers press"
            )
        for other in actions[i + 1 :]:
            other_seq = sequences[other]
            if not isinstance(other_seq, str):
                continue
            if seq == other_seq:
                node[other].fail(f"is the same sequence as {action} ({seq!r})")
            elif other_seq.startswith(seq) or seq.startswith(other_seq):
                short, long_ = (action, other) if len(seq) < len(other_seq) else (other, action)
                node[long_].fail(
                    f"overlaps {short} ({sequences[short]!r}): one sequence must not begin "
                    "with another"
                )
    return AgentKeys(
        start=sequences["start"],
        pause=sequences["pause"],
        resume=sequences["resume"],
        private=sequences["private"],
        payment=sequences["payment"],
        card=sequences["card"],
        inter_digit_timeout=node["inter_digit_timeout"].number(2.0, minimum=0.5, maximum=10),
        ok_sound=node["ok_sound"].string(
            "beep", pattern=SOUND_PATTERN, pattern_hint="must be an Asterisk sound name"
        ),
        refused_sound=node["refused_sound"].string(
            "beeperr", pattern=SOUND_PATTERN, pattern_hint="must be an Asterisk sound name"
        ),
    )


def _private_calls(node: Node) -> PrivateCalls:
    if not node.present or not node.mapping(("dial_prefix",)):
        return PrivateCalls()
    return PrivateCalls(
        dial_prefix=node["dial_prefix"].string(
            "*77", pattern=r"[*#0-9]{1,4}", pattern_hint='must be 1 to 4 keys such as "*77"'
        )
    )


# -- access list, sheets, audit log, purge, legal texts (S1-S3, T2-T4, D1) -----------
_CREDENTIAL_KEYS = ("password_hash_env", "password_hash_file", "token_hash_env", "token_hash_file")
_INLINE_SECRETS = ("password", "password_hash", "token", "token_hash")


def _credential(node: Node) -> CredentialSource | None:
    """A person's credential: where the password hash or token hash is read from (S5)."""
    for key in _INLINE_SECRETS:
        if node[key].present:
            node[key].fail(
                "credentials are not written in the YAML; name a file with "
                "'password_hash_file' (see 'reccontrol access hash-password') or "
                "'token_hash_file' (see 'reccontrol access new-token'), or an environment "
                "variable with '..._env'"
            )
            return None
    given = [key for key in _CREDENTIAL_KEYS if node[key].present]
    if not given:
        node.problems.add(
            node.child_path("password_hash_file"),
            "is required (or password_hash_env, token_hash_file, token_hash_env)",
        )
        return None
    if len(given) > 1:
        node[given[1]].fail(f"give one credential only; '{given[0]}' is already set")
        return None
    key = given[0]
    origin: Literal["env", "file"] = "env" if key.endswith("_env") else "file"
    if origin == "env":
        location = node[key].string(
            "",
            pattern=r"[A-Za-z_][A-Za-z0-9_]*",
            pattern_hint="must be an environment variable name",
        )
    else:
        location = node[key].string("")
    return CredentialSource(
        kind="password" if key.startswith("password") else "token",
        origin=origin,
        location=location,
        key_path=node[key].path,
    )


def _access(node: Node, services: dict[str, Service]) -> AccessSettings:
    if not node.present or not node.mapping(("persons",)):
        return AccessSettings()
    persons: dict[str, Person] = {}
    for person_id, pnode in node["persons"].items():
        if not re.fullmatch(NAME_PATTERN, person_id):
            pnode.fail(f"invalid person id: {NAME_HINT}")
        if not pnode.mapping(
            ("name", "role", "services", *_CREDENTIAL_KEYS, *_INLINE_SECRETS),
            required=("name", "role", "services"),
        ):
            continue
        scope = pnode["services"].string_list(())
        for index, service in enumerate(scope):
            if service != ALL_SERVICES and services and service not in services:
                pnode.problems.add(
                    pnode["services"].child_path(index),
                    f'unknown service {service!r}; use {", ".join(services)} or "*" for all',
                )
        credential = _credential(pnode)
        role = pnode["role"].string("", choices=ROLES)
        if credential is not None:
            persons[person_id] = Person(
                id=person_id,
                name=pnode["name"].string(""),
                role=role,
                services=scope,
                credential=credential,
            )
    return AccessSettings(persons)


def _criterion(node: Node) -> Criterion:
    if not node.mapping(("id", "label", "max_score"), required=("id", "label", "max_score")):
        return Criterion("", "", 1)
    return Criterion(
        id=node["id"].string("", pattern=NAME_PATTERN, pattern_hint=f"invalid id: {NAME_HINT}"),
        label=node["label"].string(""),
        max_score=node["max_score"].integer(5, minimum=1, maximum=100),
    )


def _sheets(node: Node) -> SheetSettings:
    if not node.present or not node.mapping(("retention_days", "criteria")):
        return SheetSettings()
    retention = node["retention_days"].integer(MAX_SHEET_RETENTION_DAYS, minimum=1)
    if isinstance(retention, int) and retention > MAX_SHEET_RETENTION_DAYS:
        node["retention_days"].fail(
            f"must be <= {MAX_SHEET_RETENTION_DAYS}: summary sheets are kept at most one year (T2)"
        )
    criteria: tuple[Criterion, ...] = DEFAULT_CRITERIA
    if node["criteria"].present:
        criteria = node["criteria"].each(_criterion)
        if not criteria:
            node["criteria"].fail("must list at least one evaluation criterion")
        seen: set[str] = set()
        for index, criterion in enumerate(criteria):
            if criterion.id and criterion.id in seen:
                node.problems.add(
                    f"{node['criteria'].child_path(index)}.id",
                    f"duplicate criterion id {criterion.id!r}",
                )
            seen.add(criterion.id)
    return SheetSettings(
        retention_days=retention if isinstance(retention, int) else MAX_SHEET_RETENTION_DAYS,
        criteria=criteria,
    )


def _audit(node: Node, environ: dict[str, str] | os._Environ[str]) -> AuditSettings:
    keys = ("checkpoint_key", "checkpoint_key_env", "checkpoint_key_file")
    if not node.present or not node.mapping(("retention_days", *keys)):
        return AuditSettings()
    retention = node["retention_days"].integer(
        MAX_ACCESS_LOG_RETENTION_DAYS, minimum=MIN_ACCESS_LOG_RETENTION_DAYS
    )
    if isinstance(retention, int) and retention > MAX_ACCESS_LOG_RETENTION_DAYS:
        node["retention_days"].fail(
            f"must be <= {MAX_ACCESS_LOG_RETENTION_DAYS}: access-log entries are kept at most "
            "365 days (T3)"
        )
    key: Secret | None = None
    if any(node[k].present for k in keys):
        key = _secret(node, "checkpoint_key", environ)
        if key is not None and len(key.reveal()) < 16:
            which = (
                "checkpoint_key_env"
                if node["checkpoint_key_env"].present
                else ("checkpoint_key_file")
            )
            node[which].fail("the key must be at least 16 characters long")
    return AuditSettings(
        retention_days=retention if isinstance(retention, int) else MAX_ACCESS_LOG_RETENTION_DAYS,
        checkpoint_key=key,
    )


def _purge(node: Node) -> PurgeSettings:
    if not node.present or not node.mapping(("interval_minutes",)):
        return PurgeSettings()
    return PurgeSettings(node["interval_minutes"].integer(60, minimum=1, maximum=1440))


def _transfer(node: Node) -> Transfer:
    if not node.mapping(("destination", "safeguards"), required=("destination", "safeguards")):
        return Transfer("", "")
    return Transfer(node["destination"].string(""), node["safeguards"].string(""))


def _legal(node: Node) -> LegalSettings:
    if not node.present or not node.mapping(
        (
            "purposes",
            "representative",
            "joint_controllers",
            "recipients",
            "transfers",
            "security_measures",
            "staff_representatives_informed",
            "notice_url",
        )
    ):
        return LegalSettings()
    purposes: dict[str, PurposeBasis] = {}
    for purpose, pnode in node["purposes"].items():
        if purpose not in PURPOSES:
            pnode.fail(f"unknown purpose; use {', '.join(PURPOSES)}")
            continue
        if pnode.mapping(("description", "legal_basis"), required=("description", "legal_basis")):
            basis = pnode["legal_basis"].string("")
            if basis and len(basis.strip()) < 10:
                pnode["legal_basis"].fail(
                    "must state the legal basis in full, e.g. 'Intérêt légitime (art. 6.1.f "
                    "RGPD) : ...'"
                )
            purposes[purpose] = PurposeBasis(pnode["description"].string(""), basis)
    transfers: tuple[Transfer, ...] | None = None
    if node["transfers"].present:
        transfers = node["transfers"].each(_transfer)
    return LegalSettings(
        purposes=purposes,
        representative=node["representative"].string("", allow_empty=True),
        joint_controllers=node["joint_controllers"].string_list((), allow_empty=True),
        recipients=node["recipients"].string_list((), allow_empty=True),
        transfers=transfers,
        security_measures=node["security_measures"].string_list((), allow_empty=True),
        staff_representatives_informed=node["staff_representatives_informed"].date(None),
        notice_url=node["notice_url"].string(
            "", pattern=r"https://\S+", pattern_hint="must be an https:// URL"
        ),
    )


TOP_LEVEL = (
    "organisation",
    "timezone",
    "ari",
    "store",
    "recordings",
    "privacy",
    "logging",
    "web",
    "agents",
    "services",
    "agent_keys",
    "private_calls",
    "payment",
    "access",
    "sheets",
    "audit",
    "purge",
    "legal",
)


def build(data: Any, source: Path, environ: dict[str, str] | os._Environ[str]) -> Config:
    problems = Problems()
    root = Node(data if data is not None else {}, "", problems)
    if not root.mapping(
        TOP_LEVEL,
        required=("organisation", "ari", "store", "recordings", "privacy", "agents", "services"),
    ):
        raise ConfigError(problems.items)

    organisation = _organisation(root["organisation"])

    tz_name = root["timezone"].string("Europe/Paris")
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        root["timezone"].fail(f"unknown time zone {tz_name!r}; use a name like Europe/Paris")
        timezone = ZoneInfo("UTC")

    ari = _ari(root["ari"], environ)

    store = root["store"]
    store_path = Path()
    if store.mapping(("path",), required=("path",)):
        store_path = Path(store["path"].string(""))

    rec = root["recordings"]
    recordings = RecordingSettings(Path(), Path())
    if rec.mapping(
        ("asterisk_dir", "vault_dir", "format", "sweep_minutes"),
        required=("asterisk_dir", "vault_dir"),
    ):
        recordings = RecordingSettings(
            asterisk_dir=Path(rec["asterisk_dir"].string("")),
            vault_dir=Path(rec["vault_dir"].string("")),
            format=rec["format"].string("wav", choices=("wav", "wav16")),
            sweep_minutes=rec["sweep_minutes"].number(10.0, minimum=0.01, maximum=1440),
        )
        if recordings.asterisk_dir == recordings.vault_dir and rec["vault_dir"].present:
            rec["vault_dir"].fail(
                "must differ from asterisk_dir: Asterisk's folder is reachable "
                "through ARI, the vault only through reccontrol's audited API"
            )

    priv = root["privacy"]
    privacy: PrivacySettings | None = None
    if priv.mapping(
        ("caller_hmac_key", "caller_hmac_key_env", "caller_hmac_key_file", "objection_memory_days")
    ):
        key = _secret(priv, "caller_hmac_key", environ)
        if key is not None and len(key.reveal()) < 16:
            priv[
                "caller_hmac_key_env"
                if priv["caller_hmac_key_env"].present
                else "caller_hmac_key_file"
            ].fail("the key must be at least 16 characters long")
        privacy = PrivacySettings(
            caller_hmac_key=key or Secret(""),
            objection_memory_days=priv["objection_memory_days"].integer(
                365, minimum=1, maximum=3650
            ),
        )

    log = root["logging"]
    level = "INFO"
    if log.present and log.mapping(("level",)):
        level = log["level"].string("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))

    web = WebSettings()
    web_node = root["web"]
    if web_node.present and web_node.mapping(("host", "port")):
        web = WebSettings(
            host=web_node["host"].string("127.0.0.1"),
            port=web_node["port"].integer(8090, minimum=1, maximum=65535),
        )

    agents: dict[str, Agent] = {}
    for name, node in root["agents"].items():
        if not re.fullmatch(NAME_PATTERN, name):
            node.fail(f"invalid agent id: {NAME_HINT}")
        agents[name] = _agent(name, node)
    if root["agents"].present and not agents:
        root["agents"].fail("must name at least one agent")

    services: dict[str, Service] = {}
    for name, node in root["services"].items():
        if not re.fullmatch(NAME_PATTERN, name):
            node.fail(f"invalid service name: {NAME_HINT}")
        service = _service(name, node)
        if service is not None:
            services[name] = service
    if root["services"].present and not root["services"].value:
        root["services"].fail("must define at least one service")

    agent_keys = _agent_keys(root["agent_keys"], services)
    private_calls = _private_calls(root["private_calls"])
    payment = _payment(root["payment"], environ)
    for name, service in services.items():
        if service.payments and payment is None and not root["payment"].present:
            root["services"][name]["payments"].fail(
                "needs a top-level 'payment' section (the payment API and IVR prompts)"
            )
    access = _access(root["access"], services)
    sheets = _sheets(root["sheets"])
    audit = _audit(root["audit"], environ)
    purge = _purge(root["purge"])
    legal = _legal(root["legal"])

    if problems or ari is None or privacy is None:
        raise ConfigError(problems.items)
    return Config(
        source=source,
        organisation=organisation,
        timezone=timezone,
        ari=ari,
        store=StoreSettings(store_path),
        recordings=recordings,
        privacy=privacy,
        logging=LoggingSettings(level),
        web=web,
        agents=agents,
        services=services,
        agent_keys=agent_keys,
        private_calls=private_calls,
        payment=payment,
        access=access,
        sheets=sheets,
        audit=audit,
        purge=purge,
        legal=legal,
    )


def load_config(path: Path | str, environ: dict[str, str] | None = None) -> Config:
    """Reads and validates a config file. Raises :class:`ConfigError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [Problem("", f"{path}: cannot read the file: {exc.strerror or exc}")]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem("", f"{path}: the file is not UTF-8 text")]) from None
    data = parse_yaml(text, str(path))
    return build(data, path, os.environ if environ is None else environ)


__all__ = ["MISSING", "ConfigError", "load_config", "parse_yaml"]
