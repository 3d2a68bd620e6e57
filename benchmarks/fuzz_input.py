"""Fuzz nbcell's input handling and print a table of counts (issue #15; the engine is ``tests/fuzzing.py``).

Netlist cases: a built-in cell or a single-cell file of a real library (``$NBCELL_CELLLIBS``), mutated
(truncations, deleted/duplicated tokens and lines, odd numbers and units, NUL/control/non-UTF-8 bytes,
long lines, recursive and fanned-out subcircuit calls, unknown models, hostile cell names, duplicate
pins and devices ...), then read (``nbcell cells``) and sized (``nbcell size``) into ``out``. Process
cases: a shipped process YAML mutated (odd and scaled values, deleted lines and roles, bad bytes, deep
nesting, aliases, another technology ...), loaded as ``target=FILE`` and, when it loads, one built-in
cell ported to it. Port cases: a small built-in cell mutated, often renamed to a hostile name, through
the batch job (``jobs=0``). Counts: crashes (an exception that is not nbcell's own error), hangs (a case
over 2 CPU seconds; a shared machine stretches wall time), writes outside ``out`` (checked in a sandbox
folder), unclear read errors (no file and line).

    .venv/bin/python benchmarks/fuzz_input.py [--netlists 10000] [--processes 400] [--ports 200] [--seed 2024]
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import CELLLIBS  # noqa: E402
from tests.fuzzing import fuzz  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--netlists", type=int, default=10_000)
    ap.add_argument("--processes", type=int, default=400)
    ap.add_argument("--ports", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--per-library", type=int, default=40, help="single-cell files taken from each real library")
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nbcell-fuzz-") as tmp:
        report = fuzz(Path(tmp), args.seed, args.netlists, args.processes, args.ports, CELLLIBS, args.per_library)
    print(report.table())
    for kind in ("netlist", "process", "port"):
        verdicts = collections.Counter(o.result.split(",")[0].split(":")[0] if kind == "netlist" else
                                       o.result.split(" ")[0] + (o.result.split(" ")[1] if o.result.startswith(
                                           ("rejected", "ported")) else "") for o in report.outcomes if o.kind == kind)
        print(f"{kind}: " + ", ".join(f"{k or '?'} {v}" for k, v in verdicts.most_common(8)))
    for o in report.problems()[:20]:
        print(f"PROBLEM {o.kind} #{o.case} {o.mutation} {o.seconds:.2f} s {o.crash or ''} {o.outside or ''} "
              f"{o.unclear or ''}"[:800])
    print(f"seed {args.seed}; {time.perf_counter() - t0:.0f} s wall")
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
