"""Random identifiers for calls, recordings, pauses and payments."""

from __future__ import annotations

import random


def new_id(rng: random.Random, bits: int = 128) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def far_side_id(channel_id: str) -> str:
    """The id given to the far half (``;2``) of a Local channel the controller dials: the
    half that runs the dialplan, a Queue() for example, and knows who answered."""
    return f"{channel_id}-far"
