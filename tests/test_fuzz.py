"""Seeded fuzzing of nbcell's input handling (issue #15; the engine is ``tests/fuzzing.py``): no crash
that is not nbcell's own error, no case over 2 CPU seconds, no write outside ``out``, every read error naming
its file and line. The quick run is in the default suite; the long one (10,000 netlists, 400 process
files, 200 ports) is marked slow (``benchmarks/fuzz_input.py`` prints its table)."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import CELLLIBS
from tests.fuzzing import fuzz


def _run(tmp_path, seed: int, netlists: int, processes: int, ports: int, per_library: int) -> None:
    logging.disable(logging.CRITICAL)  # thousands of 'could not read' lines are the point, not news
    try:
        report = fuzz(tmp_path, seed, netlists, processes, ports, CELLLIBS, per_library)
    finally:
        logging.disable(logging.NOTSET)
    print(report.table())
    bad = report.problems()
    detail = "\n".join(f"{o.kind} #{o.case} {o.mutation}: {o.seconds:.2f} s {o.crash or ''} {o.outside or ''} "
                       f"{o.unclear or ''}"[:1500] for o in bad[:10])
    assert not bad, f"{len(bad)} problem cases:\n{detail}\n{report.table()}"
    assert len(report.outcomes) == netlists + processes + ports


def test_fuzz_quick(tmp_path) -> None:
    _run(tmp_path, seed=15, netlists=1500, processes=100, ports=20, per_library=5)


@pytest.mark.slow
def test_fuzz_long(tmp_path) -> None:
    _run(tmp_path, seed=2024, netlists=10_000, processes=400, ports=200, per_library=40)
