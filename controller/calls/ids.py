"""Random identifiers for calls, recordings, pauses and payments."""

from __future__ import annotations

import random


def new_id(rng: random.Random, bits: int = 128) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"
