"""A persistent XLA compilation cache for the jitted env episodes (placement and routing).

Each worker process compiles one function per env bucket; on this 2-core machine
that is 5–10 s each, so a run that finds them on disk starts at once.
``NBCELL_JAX_CACHE`` names the folder (default ``~/.cache/nbcell/xla``; empty: off).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def enable_compile_cache() -> str | None:
    """Point JAX at the cache folder (once per process); returns it, or None when disabled."""
    folder = os.environ.get("NBCELL_JAX_CACHE")
    if folder is None:
        folder = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nbcell" / "xla")
    if not folder:
        return None
    import jax

    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: compile every time rather than fail the cell
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    return folder
