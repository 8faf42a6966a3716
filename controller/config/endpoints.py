"""Which agent a channel or a queue member belongs to: exact names, never a prefix (A3, A7).

An agent's ``endpoints`` say what Asterisk calls their phone:

- ``PJSIP/alice`` (any technology but Local): the endpoint ``alice``. Asterisk names
  its channels ``PJSIP/alice-0000001a``: the endpoint, a dash and a counter printed
  ``%08x`` (8 lowercase hex digits, more once it passes 2^32). Only that last part is
  taken off, so ``PJSIP/alice-rep-0000001a`` is ``alice-rep`` and never ``alice``.
- ``Local/1001@agents``: the extension ``1001`` of the context ``agents``; channels are
  ``Local/1001@agents-0000001a;1`` and ``;2``. ``Local/1001`` is that extension in
  any context.
- ``Local/alice-*`` (Local only, ``*`` last in the extension): every extension that
  begins with ``alice-``, for sites whose dialplan puts the agent first in the
  extension. The site asks for it; no name is ever read as a prefix otherwise.

A queue reports who answered as the member's interface (``MEMBERINTERFACE``), the name
without a counter: ``PJSIP/alice``, ``Local/1001@agents``. Channel names and interfaces
are parsed by separate functions, since ``PJSIP/alice-0000001a`` is Alice's channel but
would be the interface of an endpoint named ``alice-0000001a``.

When several endpoints fit, the most specific one wins (exact before ``*``, a named
context before any context, then the longest). The loader refuses endpoints of two
agents that could fit one channel, or whose names differ only by a dash and a tail
(``alice`` and ``alice-rep``), so that choice never decides between two agents.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

LOCAL = "local"

# Asterisk's channel counter: "%08x" (chan_pjsip, chan_sip, core_local).
_COUNTER = r"-[0-9a-f]{8,}"
_LOCAL_CHANNEL = re.compile(rf"Local/(?P<exten>[^@;/\s]+)@(?P<context>[^;/\s]+){_COUNTER};[12]")
_LOCAL_INTERFACE = re.compile(r"Local/(?P<exten>[^@;/\s]+)@(?P<context>[^;/\s]+)(?:/[a-z]+)?")
_CHANNEL = re.compile(rf"(?P<tech>[A-Za-z][A-Za-z0-9_]*)/(?P<resource>[^;/\s]+){_COUNTER}")
_INTERFACE = re.compile(r"(?P<tech>[A-Za-z][A-Za-z0-9_]*)/(?P<resource>[^;/\s]+)")

_ENDPOINT = re.compile(r"(?P<tech>[A-Za-z][A-Za-z0-9_]*)/(?P<resource>[^;/@*\s]+)")
_LOCAL_ENDPOINT = re.compile(
    r"Local/(?P<exten>[^@;/*\s]+)(?P<wild>\*)?(?:@(?P<context>[^@;/*\s]+))?", re.IGNORECASE
)

ENDPOINT_HINT = (
    "must be a channel name without its counter: 'PJSIP/alice', 'Local/1001@agents', "
    "'Local/1001' (any context) or 'Local/alice-*' (extensions beginning with 'alice-')"
)


class EndpointError(ValueError):
    """An endpoint the config cannot use. ``error_id`` says which rule it broke."""

    def __init__(self, error_id: Literal["endpoint_syntax", "endpoint_ambiguous"], message: str):
        super().__init__(message)
        self.error_id = error_id


@dataclass(frozen=True)
class Name:
    """What a channel name or an interface says about the phone: its technology (lower
    case, as Asterisk compares it), and the endpoint, or a Local channel's extension and
    context."""

    tech: str
    resource: str
    context: str | None = None


@dataclass(frozen=True)
class Endpoint:
    tech: str
    resource: str
    """The endpoint id, or a Local extension (its prefix when ``wildcard``)."""
    context: str | None = None
    """Local only: the context, or None for any context."""
    wildcard: bool = False

    def specificity(self, name: Name) -> tuple[int, int, int] | None:
        """How closely this endpoint fits ``name`` (greater is closer), or None."""
        if name.tech != self.tech:
            return None
        if self.context is not None and name.context != self.context:
            return None
        if self.wildcard:
            if not name.resource.startswith(self.resource):
                return None
        elif name.resource != self.resource:
            return None
        return (0 if self.wildcard else 1, 0 if self.context is None else 1, len(self.resource))


@functools.lru_cache(maxsize=1024)
def parse_endpoint(text: str) -> Endpoint:
    """An endpoint of the config. Raises :class:`EndpointError` (``endpoint_syntax``)."""
    if text[:6].lower() == "local/":
        local = _LOCAL_ENDPOINT.fullmatch(text)
        if local is None:
            raise EndpointError("endpoint_syntax", f"{ENDPOINT_HINT}; got {text!r}")
        return Endpoint(LOCAL, local["exten"], local["context"], local["wild"] is not None)
    match = _ENDPOINT.fullmatch(text)
    if match is None:
        raise EndpointError("endpoint_syntax", f"{ENDPOINT_HINT}; got {text!r}")
    return Endpoint(match["tech"].lower(), match["resource"])


def channel_name(name: str) -> Name | None:
    """What Asterisk's name of a channel says, or None when it is not in Asterisk's form
    (``PJSIP/alice-0000001a``, ``Local/1001@agents-0000001a;1``)."""
    local = _LOCAL_CHANNEL.fullmatch(name)
    if local is not None:
        return Name(LOCAL, local["exten"], local["context"])
    if name[:6].lower() == "local/":
        return None
    match = _CHANNEL.fullmatch(name)
    return Name(match["tech"].lower(), match["resource"]) if match else None


def interface_name(interface: str) -> Name | None:
    """What a queue member's interface says (``PJSIP/alice``, ``Local/1001@agents``, a
    Local member's ``/n`` option aside), or None when it is not in that form."""
    local = _LOCAL_INTERFACE.fullmatch(interface)
    if local is not None:
        return Name(LOCAL, local["exten"], local["context"])
    if interface[:6].lower() == "local/":
        return None
    match = _INTERFACE.fullmatch(interface)
    return Name(match["tech"].lower(), match["resource"]) if match else None


def ambiguity(first: Endpoint, second: Endpoint) -> str | None:
    """Why one channel could be taken for either endpoint, or None when none can."""
    if first.tech != second.tech:
        return None
    if first.context is not None and second.context is not None and first.context != second.context:
        return None
    a, b = first.resource, second.resource
    if first.wildcard or second.wildcard:
        if (first.wildcard and b.startswith(a)) or (second.wildcard and a.startswith(b)):
            return "one channel name can fit both"
        return None
    if a == b:
        return "they name the same phone"
    if a.startswith(b + "-") or b.startswith(a + "-"):
        return (
            "one name is the other followed by a dash, the way Asterisk writes a channel's "
            "counter: a channel of one could be read as the other's"
        )
    return None
