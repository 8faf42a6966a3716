"""The ``agents`` section (A1-A3, A7) and the keys agents press on calls:
``agent_keys`` (A2, A4, A5, M1) and ``private_calls`` (A2)."""

from __future__ import annotations

import re

from controller.config.endpoints import Endpoint, EndpointError, ambiguity, parse_endpoint
from controller.config.model import Agent
from controller.config.reader import NAME_HINT, NAME_PATTERN, Node
from controller.config.service_model import AgentKeys, PrivateCalls, Service
from controller.privacy import NumberError, to_e164

SEQUENCE_PATTERN = r"[0-9*#]{2,4}"


def agents(node: Node, region: str) -> dict[str, Agent]:
    """Every agent, by id; national numbers of private lines are read in ``region``."""
    found: dict[str, Agent] = {}
    for name, agent_node in node.items():
        if not re.fullmatch(NAME_PATTERN, name):
            agent_node.fail(f"invalid agent id: {NAME_HINT}")
        found[name] = _agent(name, agent_node, region)
    if node.present and not found:
        node.fail("must name at least one agent")
    _unambiguous_endpoints(node, found)
    return found


def _strings(node: Node, *, allow_empty: bool = False) -> list[tuple[Node, str]]:
    """A list of strings with the node of each, for errors naming ``key[index]``. A
    single string stands for a list of one, as :meth:`Node.string_list` allows."""
    values = node.string_list((), allow_empty=allow_empty)
    nodes = list(node.elements()) if isinstance(node.value, list) else [node]
    return [(n, v) for n, v in zip(nodes, values, strict=False) if isinstance(v, str)]


def _endpoints(node: Node) -> tuple[str, ...]:
    """An agent's endpoints, each one a name Asterisk could report (A7)."""
    endpoints: list[str] = []
    for element, text in _strings(node):
        try:
            parse_endpoint(text)
        except EndpointError as exc:
            element.fail(str(exc))
        endpoints.append(text)
    return tuple(endpoints)


def _private_lines(node: Node, region: str) -> tuple[str, ...]:
    """An agent's private lines in E.164 form, read by the rule used for callers'
    numbers, so a call to one is known whatever form the trunk delivers it in (A2)."""
    lines: list[str] = []
    for element, line in _strings(node, allow_empty=True):
        try:
            lines.append(to_e164(line, region))
        except NumberError as exc:
            # The message never repeats the number: the key path says which one it is.
            element.fail(
                f"is {exc}; write it in international form, e.g. +33100000101 "
                f"(national numbers are read in privacy.default_region, {region})"
            )
    return tuple(lines)


def _agent(name: str, node: Node, region: str) -> Agent:
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
    windows = node["windows"].each(Node.window)
    if node["windows"].present and not windows:
        node["windows"].fail("must list at least one published recording period (A1)")
    return Agent(
        id=name,
        name=node["name"].string(""),
        endpoints=_endpoints(node["endpoints"]),
        windows=windows,
        protected=protected,
        protection_reason=reason,
        private_lines=_private_lines(node["private_lines"], region),
    )


def _unambiguous_endpoints(node: Node, agents: dict[str, Agent]) -> None:
    """Refuses endpoints of two agents that one channel could fit, or whose names differ
    only by a dash and a tail (``PJSIP/alice``, ``PJSIP/alice-rep``): a misread name there
    records one for the other, a protected agent for an unprotected one (A3)."""
    seen: list[tuple[str, int, Endpoint]] = []
    for agent in agents.values():
        for index, text in enumerate(agent.endpoints):
            try:
                endpoint = parse_endpoint(text)
            except EndpointError:
                continue  # already reported
            for other_id, other_index, other in seen:
                if other_id == agent.id:
                    continue
                why = ambiguity(other, endpoint)
                if why is not None:
                    other_text = agents[other_id].endpoints[other_index]
                    endpoints = node[agent.id]["endpoints"]
                    listed = isinstance(endpoints.value, list)
                    node.problems.add(
                        endpoints.child_path(index) if listed else endpoints.path,
                        f"{text!r} and agents.{other_id}.endpoints[{other_index}] "
                        f"({other_text!r}) could be taken for one another: {why}. Rename "
                        "one of the phones, or list it under one agent only",
                    )
            seen.append((agent.id, index, endpoint))


def agent_keys(node: Node, services: dict[str, Service]) -> AgentKeys:
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
        notice_given=sequences["notice_given"],
        inter_digit_timeout=node["inter_digit_timeout"].number(2.0, minimum=0.5, maximum=10),
        ok_sound=node["ok_sound"].sound("beep"),
        refused_sound=node["refused_sound"].sound("beeperr"),
    )


def private_calls(node: Node) -> PrivateCalls:
    if not node.present or not node.mapping(("dial_prefix",)):
        return PrivateCalls()
    return PrivateCalls(
        dial_prefix=node["dial_prefix"].string(
            "*77", pattern=r"[*#0-9]{1,4}", pattern_hint='must be 1 to 4 keys such as "*77"'
        )
    )
