"""MinHash signatures of article text: pure functions, light imports (they run in parse workers).

`rensa`'s RMinHash (see NOTES.md) over word 3-shingles; LSH band keys for SQL lookups.
"""

from __future__ import annotations

import hashlib
import re
import struct

from rensa import RMinHash

NUM_PERM = 128
SEED = 1
BANDS = 16
ROWS = 4  # 16 bands x 4 rows: candidates from ~0.5 Jaccard; ~0.99 recall at 0.7
SHINGLE = 3
MIN_TOKENS = 12  # shorter texts say too little to call two articles the same story
MAX_WORDS = 1500

_WORD = re.compile(r"\w+", re.UNICODE)
_PACK = struct.Struct(f"<{NUM_PERM}I")


# Characters that are never part of a `\w` word: ASCII punctuation and the common typographic
# marks (dashes, curly quotes, ellipsis, guillemets, NBSP, ...). Mapped to spaces for `words`.
_SEPARATORS = {
    c: " "
    for c in (*range(0x80), *range(0xA0, 0xC0), 0xD7, 0xF7, *range(0x2000, 0x2070))
    if not (chr(c).isalnum() or chr(c) == "_")
}


def words(text: str) -> list[str]:
    """`re.findall(r"\\w+", text)`, cheaper: separators become spaces and `str.split` does the rest.

    When anything but word characters is left in the words (a rarer symbol, an underscore) the
    regex decides, so the result is the same for every text.
    """
    parts = text.translate(_SEPARATORS).split()
    if "".join(parts).isalnum():
        return parts
    return _WORD.findall(text)


def shingles(title: str | None, text: str) -> list[str]:
    ws = words(f"{title or ''} {text}".casefold())[:MAX_WORDS]
    if len(ws) < SHINGLE:
        return ws
    return list(map(" ".join, zip(ws, ws[1:], ws[2:], strict=False)))  # SHINGLE (3) words each


def signature(title: str | None, text: str) -> bytes | None:
    """MinHash signature of an article's words (None when it is too short to compare)."""
    tokens = shingles(title, text)
    if len(tokens) < MIN_TOKENS:
        return None
    mh = RMinHash(num_perm=NUM_PERM, seed=SEED)
    mh.update(tokens)
    return _PACK.pack(*mh.digest())


def unpack(sig: bytes) -> tuple[int, ...]:
    return _PACK.unpack(sig)


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity: the share of equal MinHash positions."""
    ua, ub = unpack(a), unpack(b)
    return sum(1 for x, y in zip(ua, ub, strict=True) if x == y) / NUM_PERM


def band_keys(sig: bytes) -> list[int]:
    """One signed 64-bit key per band (fits BIGINT on both backends).

    A band's key hashes its number (one byte) and its ROWS values as the signature packs them
    (little-endian uint32s), so the bytes are sliced from the signature rather than unpacked and
    packed again per band.
    """
    width = ROWS * 4
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    return [
        from_bytes(blake2b(bytes((b,)) + sig[b * width : (b + 1) * width], digest_size=8).digest(), "little", signed=True)
        for b in range(BANDS)
    ]
