"""The agents' keys of dialplan-only sites as Asterisk's feature map, pure: the
``features.conf`` snippet (``dialplan/reccontrol-features.conf``) for the YAML's
``agent_keys``, and what differs between it and a snippet already installed.

Asterisk collects the keys itself on this path (a dynamic feature per key), so its map
must hold the very sequences the YAML names; ``reccontrol agi features-conf`` prints it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controller.calls.agi_opening import ACTION_OF_SCRIPT
from controller.config.service_model import AgentKeys

FEATURE_PREFIX = "reccontrol-"
SUBROUTINE = "reccontrol-agi-key"
"""The shipped subroutine of ``dialplan/reccontrol-agi.conf`` each feature runs."""

_HEADER = """\
; reccontrol: the agents' keys on dialplan-only sites (docs/agi.md, "The agents' keys").
;
; Install: copy this file next to features.conf and add, at the end of features.conf:
;
;     #include "reccontrol-features.conf"
;
; and include reccontrol-agi.conf in extensions.conf (it has the subroutines these keys
; run). The keys are Asterisk's dynamic features, collected by the bridge: the digits
; reach neither the other party nor the recording. They are offered only on the
; agent's channel: the shipped reccontrol-agi-connected subroutine (and, on an agent's
; outbound call, reccontrol-agi-outbound) adds them to that channel's DYNAMIC_FEATURES,
; so callers, called parties, and calls that never met those subroutines, have none of
; them.
;
; Written by "reccontrol agi features-conf" from the YAML's agent_keys (start, pause,
; resume, private, card): after changing those, write this file again with it and
; reload Asterisk's features ("module reload features"). "self": the subroutine runs
; on the channel that pressed the keys, the agent's, where the recording (MixMonitor)
; runs. The payment key has no feature: the payment IVR is the ARI path's alone.
"""
_ENTRY = re.compile(r"\s*([A-Za-z0-9_-]+)\s*=>\s*([^,;\s]*)\s*,(.*)")


@dataclass(frozen=True)
class Feature:
    name: str
    """The ``applicationmap`` entry, and what ``DYNAMIC_FEATURES`` lists."""
    script: str
    """The FastAGI script the subroutine runs (its extension)."""
    key_path: str
    """The YAML key the sequence comes from."""
    sequence: str

    def line(self) -> str:
        return f"{self.name} => {self.sequence},self,Gosub({SUBROUTINE},{self.script},1)"


def features(keys: AgentKeys) -> list[Feature]:
    """One feature per key script of the FastAGI path, in the shipped file's order."""
    sequences = keys.sequences()
    return [
        Feature(f"{FEATURE_PREFIX}{script}", script, f"agent_keys.{action}", sequences[action])
        for script, action in ACTION_OF_SCRIPT.items()
    ]


def features_conf(keys: AgentKeys) -> str:
    """The whole ``reccontrol-features.conf`` for ``keys``."""
    lines = [feature.line() for feature in features(keys)]
    return _HEADER + "\n[applicationmap]\n" + "\n".join(lines) + "\n"


def installed_entries(text: str) -> dict[str, str]:
    """Feature name to its entry (``sequence,self,app``) in the ``[applicationmap]``
    sections of a ``features.conf`` snippet; comments and other sections are skipped."""
    entries: dict[str, str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and "]" in line:
            section = line[1 : line.index("]")].strip()
            continue
        match = _ENTRY.fullmatch(line) if section == "applicationmap" else None
        if match is not None:
            name, sequence, rest = match.groups()
            entries[name] = f"{sequence},{rest.strip()}"
    return entries


def differences(keys: AgentKeys, installed: str) -> list[str]:
    """What an installed snippet gets wrong for ``keys``, one line per feature: a
    missing feature, another sequence than the YAML's, or another action. Features
    that are not reccontrol's are the site's business."""
    found = installed_entries(installed)
    problems: list[str] = []
    for feature in features(keys):
        expected = feature.line().split("=>", 1)[1].strip()
        entry = found.get(feature.name)
        if entry is None:
            problems.append(f"{feature.name}: missing ({feature.key_path} is {feature.sequence!r})")
            continue
        sequence = entry.split(",", 1)[0]
        if sequence != feature.sequence:
            problems.append(
                f"{feature.name}: keys {sequence!r}, but {feature.key_path} is "
                f"{feature.sequence!r}"
            )
        elif entry.replace(" ", "") != expected.replace(" ", ""):
            problems.append(f"{feature.name}: runs {entry!r}, expected {expected!r}")
    return problems
