"""Names from netlists are data: the only way a cell name becomes a file name.

``file_stem`` keeps a name made of ASCII letters, digits and ``_ . + -`` (not starting with ``.``
or ``-``) as it is and writes every other byte of its UTF-8 form as ``%XX``, so ``/``, ``\\``,
``..``, NUL, control characters and absolute paths never reach the file system, and two names
never share a file (``%`` itself is escaped). A stem longer than ``MAX_STEM_CHARS`` keeps its
first part and ends in ``~`` and 16 hex digits of the name's SHA-256 (``~`` is escaped elsewhere).
Every writer and reader of per-cell files goes through ``cell_dir`` / ``cell_file``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from nbcell.limits import MAX_STEM_CHARS

_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


def file_stem(name: str) -> str:
    """``name`` as one safe path component (never empty, ``.``, ``..`` or with a separator)."""
    if _SAFE.fullmatch(name) and len(name) <= MAX_STEM_CHARS:
        return name
    raw = name.encode("utf-8", "surrogatepass")
    stem = "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_.+-") and (i or chr(b) not in ".-")
                   else f"%{b:02X}" for i, b in enumerate(raw)) or "%"
    if len(stem) > MAX_STEM_CHARS:
        stem = f"{stem[:MAX_STEM_CHARS - 24]}~{hashlib.sha256(raw).hexdigest()[:16]}"
    return stem


def cell_dir(out: Path, name: str) -> Path:
    """``out/cells/<stem>``: the folder of cell ``name``'s files."""
    return Path(out) / "cells" / file_stem(name)


def cell_file(out: Path, name: str, ext: str, suffix: str = "") -> Path:
    """``out/cells/<stem>/<stem><suffix>.<ext>``, a file of cell ``name``."""
    stem = file_stem(name)
    return Path(out) / "cells" / stem / f"{stem}{suffix}.{ext}"


def cell_link(name: str, ext: str, suffix: str = "") -> str:
    """``cell_file(out, name, ext, suffix)`` relative to ``out``, with ``/`` (the report quotes it)."""
    stem = file_stem(name)
    return f"cells/{stem}/{stem}{suffix}.{ext}"
