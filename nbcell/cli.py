"""The ``nbcell`` command: one Hydra app, the first word picks the command.

    nbcell cells source=PATH [format=json|table] [process=NAME]
    nbcell size  source=PATH target=NAME out=DIR
    nbcell port  [source=PATH] [target=NAME] [out=DIR]
    nbcell check target=NAME gds=PATH [netlist=PATH] out=DIR

``source=`` takes a config of the ``source`` group (``builtin``, ``sky130_hd`` ...)
or a path; ``target=`` a config of the ``target`` group or a process YAML path.
Exit status: 0 all cells done, 1 some cells failed, 2 bad arguments or input.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from nbcell.atomic import write_text_atomic
from nbcell.cdl import cell_cdl
from nbcell.library import ReadResult, default_celllibs, read_library
from nbcell.pdk import PdkError, Process, load_process
from nbcell.sizing import SizingError, SizingRule, check_sized, size_cell

log = logging.getLogger("nbcell")
CONF = Path(__file__).parent / "conf"
COMMANDS = ("cells", "size", "port", "check")


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


def source_path(cfg: DictConfig) -> str:
    """The ``source.path`` of the config with ``celllibs:`` expanded to the libraries folder."""
    path = str(cfg.source.path)
    if path.startswith("celllibs:"):
        return str(default_celllibs() / path.removeprefix("celllibs:"))
    return path


def read_source(cfg: DictConfig) -> ReadResult:
    res = read_library(source_path(cfg), cfg.process)
    if cfg.cells != "*":
        res.cells = [c for c in res.cells if fnmatch.fnmatchcase(c.name, cfg.cells)]
        res.errors = [e for e in res.errors if not e.name or fnmatch.fnmatchcase(e.name, cfg.cells)]
    for w in res.library.warnings:
        log.warning(w)
    for e in res.errors:
        log.error("could not read %s", e.error)
    return res


def cmd_cells(cfg: DictConfig) -> int:
    res = read_source(cfg)
    rows = [{"name": c.name, "transistors": len(c.transistors), "pins": list(c.pins),
             "devices": len(c.devices)} for c in res.cells]
    if cfg.format == "json":
        sys.stdout.write(json.dumps(rows) + "\n")
    elif cfg.format == "table":
        width = max((len(r["name"]) for r in rows), default=4)
        print(f"{'cell':<{width}}  transistors  pins")
        for r in rows:
            print(f"{r['name']:<{width}}  {r['transistors']:>11}  {' '.join(r['pins'])}")
    else:
        raise UsageError(f"format={cfg.format}: use json or table")
    return 1 if res.errors else 0


def _target(cfg: DictConfig) -> Process:
    proc = load_process(cfg.target.name)
    if not proc.is_target:
        raise UsageError(f"target={cfg.target.name}: {proc.name} has no cell template (source only)")
    return proc


def size_source(cfg: DictConfig, out: Path) -> tuple[ReadResult, list, list[dict]]:
    """Read and size every cell; writes ``out/<cell>.cdl``. Returns (read result, sized cells, failures)."""
    tgt = _target(cfg)
    res = read_source(cfg)
    rule = SizingRule(cfg.sizing.width, cfg.sizing.length, float(cfg.sizing.scale))
    sized, failed = [], [{"name": e.name, "error": e.error} for e in res.errors]
    for cell in res.cells:
        try:
            s = size_cell(cell, res.process, tgt, rule)
            probs = check_sized(s, tgt)
            if probs:
                raise SizingError(f"cell {cell.name}: " + "; ".join(probs))
        except SizingError as e:
            failed.append({"name": cell.name, "error": str(e)})
            log.error("could not size %s", e)
            continue
        write_text_atomic(out / f"{s.name}.cdl", cell_cdl(s))
        sized.append(s)
    return res, sized, failed


def cmd_size(cfg: DictConfig) -> int:
    out = Path(cfg.out)
    res, sized, failed = size_source(cfg, out)
    report = {"source": source_path(cfg), "source_process": res.process.name, "target": cfg.target.name,
              "sized": len(sized), "failed": failed}
    write_text_atomic(out / "size.json", json.dumps(report, indent=1) + "\n")
    log.info("sized %d cells of %s for %s into %s; %d failed", len(sized), res.name, cfg.target.name, out,
             len(failed))
    return 1 if failed else 0


def cmd_port(cfg: DictConfig) -> int:
    """The main job: read -> size -> place -> route -> geometry -> DRC/LVS, ``out/summary.json``."""
    from nbcell.port import PortJob, run_port  # klayout and jax are only needed here
    from nbcell.reference import reference_widths

    out = Path(cfg.out)
    tgt = _target(cfg)
    res = read_source(cfg)
    job = PortJob(res.process, tgt, cfg.policy.name, int(cfg.seed),
                  SizingRule(cfg.sizing.width, cfg.sizing.length, float(cfg.sizing.scale)),
                  reference_widths(cfg.reference) if cfg.reference else {})
    summary = run_port(res.cells, job, out, res.name, source_path(cfg), [(e.name, e.error) for e in res.errors])
    rows = summary["cells"]
    counts = {s: sum(r["status"] == s for r in rows) for s in ("clean", "drc", "lvs", "failed", "timeout")}
    log.info("port: %d cells of %s for %s with %s: %s; %s/summary.json", len(rows), res.name, tgt.name,
             job.policy, ", ".join(f"{k} {v}" for k, v in counts.items() if v), out)
    return 0 if counts["clean"] == len(rows) else 1


def cmd_check(cfg: DictConfig) -> int:
    """DRC + LVS of existing layouts; writes ``out/check.json`` and per-cell reports."""
    from nbcell.drc.check import check_layouts  # klayout is only needed here

    if not cfg.gds:
        raise UsageError("check needs gds=PATH (a GDS file or a folder of GDS files)")
    proc = load_process(cfg.target.name)
    report = check_layouts(proc, Path(cfg.gds), Path(cfg.netlist) if cfg.netlist else None, Path(cfg.out),
                           cfg.cells)
    rows = report["cells"]
    drc_bad = [r["name"] for r in rows if r["drc_violations"] or r["error"]]
    lvs_bad = [r["name"] for r in rows if r["lvs_match"] is False or r["pins_ok"] is False]
    for r in rows:
        if r["error"]:
            log.error("%s: %s", r["name"], r["error"])
    log.info("check: %d cells, %d with DRC violations or errors, %d LVS mismatches; %s/check.json",
             len(rows), len(drc_bad), len(lvs_bad), cfg.out)
    return 1 if drc_bad or lvs_bad else 0


@hydra.main(config_path="conf", config_name="config", version_base=None)
def _app(cfg: DictConfig) -> int:
    handler = {"cells": cmd_cells, "size": cmd_size, "port": cmd_port, "check": cmd_check}[cfg.command]
    try:
        code = handler(cfg)
    except (UsageError, PdkError, FileNotFoundError) as e:
        log.error("%s", e)
        code = 2
    if code:
        # hydra.main swallows return values; leave with the status ourselves
        sys.exit(code)
    return code


def _rewrite(arg: str) -> list[str]:
    """``source=PATH`` / ``target=FILE.yaml`` become field overrides when not a group option."""
    for group, field in (("source", "path"), ("target", "name")):
        prefix = f"{group}="
        if arg.startswith(prefix):
            val = arg[len(prefix):]
            options = {p.stem for p in (CONF / group).glob("*.yaml")}
            if val in options or "," in val:
                return [arg]
            return [f"{group}.{field}={val}"]
    return [arg]


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return
    cmd = argv.pop(0)
    if cmd not in COMMANDS:
        print(f"nbcell: unknown command {cmd!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        sys.exit(2)
    args = [f"command={cmd}"]
    for a in argv:
        args.extend(_rewrite(a))
    sys.argv = [sys.argv[0], *args]
    _app()


if __name__ == "__main__":
    main()
