"""The content hash of an article: what a reader sees, so whitespace and case changes are not edits.

In its own light module because parse workers compute it next to cleaning (the archive then does
not hash the same text again in the one process that writes).
"""

from __future__ import annotations

import hashlib
import re

_SPACE = re.compile(r"\s+")


def content_hash(title: str | None, text: str) -> str:
    norm = _SPACE.sub(" ", f"{title or ''}\n{text}").strip().casefold()
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()
