"""Derived randomness: every random draw comes from (config seed, logical date, sample key).

Output therefore does not depend on batch size, worker count or processing order.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported on first use: DAG files import this module at parse time
    import numpy as np


def derive_seed(seed: int, ds: str, *keys: object) -> int:
    """A 64-bit seed from the config seed, the logical date and any number of keys."""
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{seed}\x1f{ds}".encode())
    for key in keys:
        h.update(b"\x1f" + str(key).encode())
    return int.from_bytes(h.digest(), "little") & 0x7FFF_FFFF_FFFF_FFFF


def rng_for(seed: int, ds: str, *keys: object) -> np.random.Generator:
    """A numpy Generator private to (seed, ds, *keys)."""
    import numpy as np

    return np.random.default_rng(derive_seed(seed, ds, *keys))


def seed32(seed: int, ds: str, *keys: object) -> int:
    """A 32-bit seed for libraries that only take one (numpy legacy, sklearn, torch)."""
    return derive_seed(seed, ds, *keys) % (2**32 - 1)
