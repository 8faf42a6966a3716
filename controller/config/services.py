"""The ``services`` sections (P1, P2, P5, T1, C1-C3, A5, A9), the ``proportionality``
section (P5) and the ``payment`` section (M1, M2)."""

from __future__ import annotations

import math
import re
import ssl
import stat
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from controller.config.reader import Node, Secrets
from controller.config.service_model import (
    DEFAULT_MAX_RATE_WITHOUT_EXEMPTION,
    MAX_RECORDING_RETENTION_DAYS,
    PURPOSES,
    Announcement,
    CallerKeys,
    Campaign,
    Exemption,
    Outbound,
    PauseSettings,
    PaymentPrompts,
    PaymentSettings,
    ProportionalitySettings,
    Service,
)
from controller.secrets import Secret

CALLER_KEY_PATTERN = r"[0-9*#]"


def proportionality(node: Node) -> ProportionalitySettings:
    """P5: the rate above which sampling counts as systematic recording. A site may state
    another one than 0.5, never without saying why: the register prints the reason."""
    if not node.present or not node.mapping(
        ("max_rate_without_exemption", "reason"), required=("max_rate_without_exemption",)
    ):
        return ProportionalitySettings()
    rate = node["max_rate_without_exemption"].number(
        DEFAULT_MAX_RATE_WITHOUT_EXEMPTION, minimum=0, exclusive_minimum=True, maximum=0.99
    )
    reason = node["reason"].string("")
    if not node["reason"].present:
        node["reason"].fail(
            "is required: state why this site's threshold of systematic recording differs "
            f"from {DEFAULT_MAX_RATE_WITHOUT_EXEMPTION:g} (P5)"
        )
    elif reason and len(reason.strip()) < 20:
        node["reason"].fail("must state the reason in full (at least 20 characters)")
    if not isinstance(rate, (int, float)) or not 0 < rate < 1:
        return ProportionalitySettings()
    return ProportionalitySettings(float(rate), reason)


def _exemption(node: Node) -> Exemption | None:
    if not node.present or not node.mapping(
        ("legal_basis", "max_retention_days"), required=("legal_basis",)
    ):
        return None
    basis = node["legal_basis"].string("")
    if basis and len(basis.strip()) < 20:
        node["legal_basis"].fail(
            "must state the written legal basis in full (at least 20 characters)"
        )
    ceiling = node["max_retention_days"].integer(None, minimum=1, maximum=3650)
    return Exemption(basis, ceiling if isinstance(ceiling, int) else None)


def _retention(name: str, node: Node, exemption: Exemption | None) -> int:
    """T1: 183 days at most; beyond, only up to what the service's exemption states."""
    retention = node["retention_days"].integer(90, minimum=1)
    if not isinstance(retention, int):
        return 90
    if retention <= MAX_RECORDING_RETENTION_DAYS:
        if exemption is not None and retention > exemption.retention_ceiling():
            node["retention_days"].fail(
                f"must be <= {exemption.retention_ceiling()}, the exemption's maximum "
                f"(services.{name}.exemption.max_retention_days) (T1)"
            )
        return retention
    if exemption is None:
        node["retention_days"].fail(
            f"must be <= {MAX_RECORDING_RETENTION_DAYS} (6 months); keeping recordings longer "
            "needs an exemption"
        )
    elif exemption.max_retention_days is None:
        node["exemption"]["max_retention_days"].fail(
            f"is required when retention_days ({retention}) is above "
            f"{MAX_RECORDING_RETENTION_DAYS}: the exemption states the longest it lets "
            "recordings be kept (T1)"
        )
    elif retention > exemption.max_retention_days:
        node["retention_days"].fail(
            f"must be <= {exemption.max_retention_days}, the exemption's maximum "
            f"(services.{name}.exemption.max_retention_days) (T1)"
        )
    return retention


def service(
    name: str, node: Node, limits: ProportionalitySettings | None = None
) -> Service | None:
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
            "hold",
            "payments",
            "payment_mode",
            "outbound",
        ),
        required=("language", "purposes", "announcement", "full_notice", "target"),
    ):
        return None
    limits = limits or ProportionalitySettings()
    exemption = _exemption(node["exemption"])

    # P1/P2/P5: proportionality. Recording every call, or nearly every call, is only
    # allowed with an exemption.
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
        if isinstance(value, float) and not math.isfinite(value):
            sampling["rate"].fail(f"must be a finite number between 0 and 1; got {value}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            rate = float(value)
            if exemption is None and not 0 < rate < 1:
                sampling["rate"].fail("must be > 0 and < 1 (record-all needs an exemption)")
            elif exemption is not None and not 0 < rate <= 1:
                sampling["rate"].fail("must be > 0 and <= 1")
            elif exemption is None and rate > limits.max_rate_without_exemption:
                sampling["rate"].fail(
                    f"{rate:g} is above {limits.max_rate_without_exemption:g} "
                    "(proportionality.max_rate_without_exemption): recording nearly every "
                    "call is systematic recording and needs an exemption with a written "
                    f"legal basis (services.{name}.exemption.legal_basis) (P5)"
                )
        elif sampling["rate"].present:
            sampling["rate"].fail(f"must be a number between 0 and 1; got {value!r}")

    retention = _retention(name, node, exemption)

    purposes = node["purposes"].string_list(())
    for index, purpose in enumerate(purposes):
        if purpose not in PURPOSES:
            node.problems.add(
                node["purposes"].child_path(index),
                f"unknown purpose {purpose!r}; use {', '.join(PURPOSES)}",
            )

    ann = node["announcement"]
    announcement = Announcement("", "")
    if ann.mapping(("sound", "version", "by"), required=("sound", "version")):
        by = ann["by"].string("system", choices=("system", "agent"))
        announcement = Announcement(
            ann["sound"].sound(""),
            ann["version"].string(""),
            "agent" if by == "agent" else "system",
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
        full_notice_sound=node["full_notice"].sound(""),
        caller_keys=keys,
        sampling_rate=rate,
        target=target,
        answer_timeout=node["answer_timeout"].integer(30, minimum=5, maximum=600),
        retention_days=retention,
        campaign=campaign,
        windows=node["windows"].each(Node.window),
        exemption=exemption,
        no_agent_sound=node["no_agent_sound"].sound("sorry"),
        pause=pause_settings(node["pause"]),
        hold=hold_setting(node["hold"]),
        payments=node["payments"].boolean(False),
        payment_mode=node["payment_mode"].string(None, choices=PAYMENT_MODES),
        outbound=outbound(name, node["outbound"]),
    )


def outbound(service_name: str, node: Node) -> Outbound | None:
    """C6: how agents reach customers. The number goes into the dial string only after
    the controller checked it is digits, so it cannot add a second target."""
    if not node.present:
        return None
    if "-" in service_name:
        # Agents dial <service>-<number> and the shipped dialplan splits at the first
        # '-': a service "sales-fr" would reach the controller as service "sales".
        node.fail(
            f"service {service_name!r} takes outbound calls, so its name cannot contain '-' "
            "(the dialplan splits <service>-<number> at the first '-'); use '_' instead"
        )
    if not node.mapping(("dial", "caller_id", "ring_timeout"), required=("dial",)):
        return None
    dial = node["dial"].string("")
    if dial and (
        dial.count("{number}") != 1
        or not re.fullmatch(r"(PJSIP|SIP|IAX2|DAHDI|Local)/\S+", dial.replace("{number}", "0"))
    ):
        node["dial"].fail(
            "must be an Asterisk dial string with {number} once where the dialled number "
            f"goes, such as PJSIP/{{number}}@trunk; got {dial!r}"
        )
    return Outbound(
        dial=dial,
        caller_id=node["caller_id"].string(
            "", pattern=r"\+?[0-9]{2,20}", pattern_hint="must be a phone number, digits only"
        ),
        ring_timeout=node["ring_timeout"].integer(30, minimum=5, maximum=300),
    )


def hold_setting(node: Node) -> Literal["pause", "record"]:
    """A9: what an agent's hold does to the recording; ``pause`` when absent."""
    hold = node.string("pause", choices=("pause", "record"))
    return "record" if hold == "record" else "pause"


def pause_settings(node: Node) -> PauseSettings:
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


# Keys people reach for to make TLS "work": named, so the refusal says why.
VERIFY_OFF_KEYS = ("verify", "verify_tls", "tls_verify", "verify_ssl", "ssl_verify", "insecure")


def ca_bundle_problem(path: Path) -> str | None:
    """Why ``path`` cannot be trusted to verify the payment API, or None."""
    try:
        info = path.stat()
    except OSError:
        return f"{path} is not a readable file"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a readable file"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        # Whoever can write the bundle can add a CA and read the card data.
        return f"{path} is writable by group or others; make it 0644 or stricter (S6)"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=str(path))
    except (OSError, ssl.SSLError):
        return f"{path} holds no PEM certificate to verify the payment API with (S6)"
    return None


PAYMENT_MODES = ("ivr", "assisted")


def payment(node: Node, secrets: Secrets) -> PaymentSettings | None:
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
            "mode",
            "digit_sound",
            *VERIFY_OFF_KEYS,
        ),
        required=("api_url", "prompts"),
    ):
        return None
    for key in VERIFY_OFF_KEYS:
        if node[key].present:
            node[key].fail(
                "certificate verification cannot be turned off: card data only travels over "
                "verified TLS (S6, PCI DSS 4.2.1); give the API's CA with 'ca_bundle'"
            )
    url = node["api_url"].string("")
    parts = node["api_url"].url_parts(url)
    if url and parts is not None and (parts.scheme != "https" or not parts.hostname):
        node["api_url"].fail("must be an https:// URL: card data only ever travels encrypted (M1)")
    elif parts is not None and (parts.username or parts.password):
        node["api_url"].fail(
            "must not carry credentials; give the API token with 'token_env' or 'token_file'"
        )
    ca_bundle = node["ca_bundle"].string(None)
    if ca_bundle:
        problem = ca_bundle_problem(Path(ca_bundle))
        if problem:
            node["ca_bundle"].fail(problem)
    token: Secret | None = None
    if node["token"].present or node["token_env"].present or node["token_file"].present:
        token = node.secret("token", secrets)
    prompts_node = node["prompts"]
    sounds = dict.fromkeys(PROMPTS, "")
    if prompts_node.mapping(PROMPTS, required=PROMPTS):
        for key in PROMPTS:
            sounds[key] = prompts_node[key].sound("")
    max_amount = Decimal("10000")
    if node["max_amount"].present:
        try:
            max_amount = Decimal(str(node["max_amount"].value))
            if not max_amount.is_finite() or max_amount <= 0:
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
        mode=node["mode"].string("ivr", choices=PAYMENT_MODES),
        digit_sound=node["digit_sound"].sound("beep"),
    )
