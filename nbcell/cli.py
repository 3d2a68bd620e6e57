"""The ``nbcell`` command: one Hydra app, the first word picks the command.

    nbcell cells source=PATH [format=json|table] [process=NAME]
    nbcell size  source=PATH target=NAME out=DIR
    nbcell port  [source=PATH|source=[A,B]] [target=NAME] [out=DIR] [jobs=N] [cell_timeout=S]
    nbcell port  -m policy=greedy,anneal ...   (a Hydra sweep: one run per combination)
    nbcell check target=NAME gds=PATH [netlist=PATH] out=DIR
    nbcell rules [target=NAME] [format=table|json]   (what `check` and `port` call clean)
    nbcell report out=DIR
    nbcell show NAME out=DIR
    nbcell train [source=A|source=[A,B]] [target=NAME] [out=DIR] [train.minutes=M] [train.export=DIR] ...

``source=`` takes a config of the ``source`` group (``builtin``, ``sky130_hd`` ...)
or a path; ``target=`` a config of the ``target`` group or a process YAML path.
Exit status: 0 all cells done, 1 some cells failed, 2 bad arguments or input.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from nbcell.atomic import write_text_atomic
from nbcell.cdl import cell_cdl
from nbcell.library import ReadResult, default_celllibs, read_library
from nbcell.limits import MAX_JOBS, MAX_SEED
from nbcell.paths import file_stem
from nbcell.pdk import PdkError, Process, load_process
from nbcell.sizing import SizingError, SizingRule, check_sized, size_cell

log = logging.getLogger("nbcell")
CONF = Path(__file__).parent / "conf"
COMMANDS = ("cells", "size", "port", "check", "rules", "report", "show", "train")


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


def _expand(path: str) -> str:
    if path.startswith("celllibs:"):
        return str(default_celllibs() / path.removeprefix("celllibs:"))
    return path


def source_path(cfg: DictConfig) -> str:
    """The ``source.path`` of the config with ``celllibs:`` expanded to the libraries folder."""
    return _expand(str(cfg.source.path))


def library_path(s: str) -> str:
    """A preset of the ``source`` group (``sky130_hd``) as its library path; anything else as given."""
    preset = CONF / "source" / f"{s}.yaml"
    return _expand(str(OmegaConf.load(preset).path) if preset.is_file() else str(s))


def source_paths(cfg: DictConfig) -> list[str]:
    """Every library of the run: ``sources`` (``source=[A,B]``: presets of the ``source`` group or
    paths) when given, else ``source.path``."""
    if not cfg.get("sources"):
        return [source_path(cfg)]
    return [library_path(str(s)) for s in cfg.sources]


def read_source(cfg: DictConfig, path: str | None = None) -> ReadResult:
    """Read ``path`` (default: ``source_path``), keep the cells that match ``cells=``, log the problems."""
    res = read_library(path or source_path(cfg), cfg.process)
    if cfg.cells != "*":
        res.cells = [c for c in res.cells if fnmatch.fnmatchcase(c.name, cfg.cells)]
        res.errors = [e for e in res.errors if not e.name or fnmatch.fnmatchcase(e.name, cfg.cells)]
    for w in res.library.warnings:
        log.warning(w)
    for e in res.errors:
        log.error("could not read %s", e.error)
    return res


def check_match(cfg: DictConfig, results: list[ReadResult]) -> None:
    """UsageError when ``cells=GLOB`` matches no cell (readable or not) of any source."""
    if cfg.cells != "*" and not any(r.cells or any(e.name for e in r.errors) for r in results):
        raise UsageError(f"cells={cfg.cells}: no cell of {', '.join(r.name for r in results)} matches")


def number(key: str, value, kind: type = int, lo: float | None = None, hi: float | None = None):
    """A numeric option (``jobs=4``) as ``kind`` in ``lo``..``hi``; UsageError naming it otherwise."""
    whole = kind is int
    try:
        if whole and (isinstance(value, bool) or (isinstance(value, float) and not value.is_integer())):
            raise ValueError
        v = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"{key}={value}: not a {'whole ' if whole else ''}number") from None
    if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        span = f"{lo}..{hi}" if lo is not None and hi is not None else f">= {lo}" if lo is not None else ""
        raise UsageError(f"{key}={value}: out of range{' ' + span if span else ''}")
    return v


def sizing_rule(cfg: DictConfig) -> SizingRule:
    """The ``sizing`` options as a :class:`SizingRule`; UsageError for a bad one."""
    try:
        return SizingRule(str(cfg.sizing.width), str(cfg.sizing.length),
                          number("sizing.scale", cfg.sizing.scale, float, 0))
    except ValueError as e:
        raise UsageError(str(e)) from None


def out_dir(out: Path) -> Path:
    """``out``, made if missing; UsageError when it cannot be (below a regular file, no permission)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"out={out}: cannot make this folder: {e.strerror or e}") from None
    return out


def cmd_cells(cfg: DictConfig) -> int:
    res = read_source(cfg)
    check_match(cfg, [res])
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
    check_match(cfg, [res])
    sized, failed = size_cells(res, tgt, sizing_rule(cfg), out_dir(out))
    return res, sized, failed


def size_cells(res: ReadResult, tgt: Process, rule: SizingRule, out: Path) -> tuple[list, list[dict]]:
    """Size every cell of ``res`` for ``tgt``; writes ``out/<cell>.cdl``. Returns (sized cells, failures:
    read errors and cells that could not be sized, each ``{"name", "error"}``)."""
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
        write_text_atomic(out / f"{file_stem(s.name)}.cdl", cell_cdl(s))
        sized.append(s)
    return sized, failed


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
    from nbcell.batch import LibraryInput, run_batch  # klayout and jax are only needed here
    from nbcell.routers import ROUTERS
    from nbcell.layout.rules import LayoutError, load_rules
    from nbcell.port import PortJob, checkpoint_digests
    from nbcell.reference import reference_widths

    out, opts = port_out(cfg), _batch_options(cfg)
    tgt = _target(cfg)
    try:
        load_rules(tgt)  # every rule the layout generator needs: a process without them fails here, not per cell
    except LayoutError as e:
        raise UsageError(f"target={cfg.target.name}: {e}") from None
    rule, seed = sizing_rule(cfg), number("seed", cfg.seed, int, 0, MAX_SEED)
    refs = reference_widths(cfg.reference) if cfg.reference else {}
    router = str(cfg.get("router", "maze"))
    if router not in ROUTERS:
        raise UsageError(f"router={router}: one of {', '.join(ROUTERS)}")
    paths = source_paths(cfg)
    libs, read = [], [read_source(cfg, path) for path in paths]
    check_match(cfg, read)
    for path, res in zip(paths, read):
        job = PortJob(res.process, tgt, cfg.policy.name, seed, rule, refs, router,
                      checkpoint_digests(cfg.policy.name, router))
        libs.append(LibraryInput(res.name, path, res.cells, [(e.name, e.error) for e in res.errors], job))
    if len({lib.name for lib in libs}) < len(libs):
        raise UsageError(f"source: libraries {', '.join(lib.name for lib in libs)}: each may be given once")
    out_dir(out)
    summary = run_batch(libs, libs[0].job, out, opts)
    rows = summary["cells"]
    counts = {s: sum(r["status"] == s for r in rows) for s in ("clean", "drc", "lvs", "failed", "timeout")}
    log.info("port: %d cells of %s for %s with %s: %s; %s", len(rows), ", ".join(lib.name for lib in libs),
             tgt.name, cfg.policy.name, ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "no cells", out)
    if opts.shard_count > 1:  # one shard of several: the library files and report come from a final run
        return 0 if counts["clean"] == len(rows) else 1
    try:
        _report(out)
    except Exception as e:  # the report is a view of the results: it never changes port's verdict
        log.warning("port: no report: %s: %s", type(e).__name__, e)
    return 0 if counts["clean"] == len(rows) else 1


def _report(out: Path) -> None:
    from nbcell.report import build_report

    r = build_report(out)
    log.info("report: %d cells, %d pictures drawn in %.1f s; %s", r.cells, r.drawn, r.seconds, r.path)


def cmd_report(cfg: DictConfig) -> int:
    """``out/report.html``: totals, width plots and a sortable table of every cell with its picture."""
    _report(Path(cfg.out))
    return 0


def cmd_show(cfg: DictConfig) -> int:
    """One cell of a port run in the terminal; writes and prints the path of its large picture."""
    from nbcell.report.show import show_cell

    if not cfg.name:
        raise UsageError("show needs a cell name: nbcell show NAME out=DIR")
    try:
        text, png = show_cell(Path(cfg.out), str(cfg.name))
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    print(text)
    if png is not None:
        print(png)
    return 0


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


def cmd_rules(cfg: DictConfig) -> int:
    """Every design rule of the target's process: checked by ``check``/``port``, or not and why."""
    from nbcell.drc import rule_coverage

    proc = load_process(cfg.target.name)
    rows = rule_coverage(proc.technology)
    if cfg.format == "json":
        sys.stdout.write(json.dumps({"target": proc.name, "technology": proc.technology.name, "rules": rows}) + "\n")
        return 0
    if cfg.format != "table":
        raise UsageError(f"format={cfg.format}: use json or table")
    width = max(len(r["id"]) for r in rows)
    print(f"{proc.name} ({proc.technology.name}): {sum(r['checked'] for r in rows)} of {len(rows)} rules checked")
    for r in rows:
        value = "" if r["value"] is None else f"{r['value']:g}"
        state = "checked" if r["checked"] else "NOT checked"
        print(f"{r['id']:<{width}}  {state:<11}  {value:>7}  {' '.join(r['layers'])}: {r['why']}")
    return 0


def cmd_train(cfg: DictConfig) -> int:
    """Train the RL agent (``train`` config section); prints the final metrics as JSON."""
    from nbcell.policies.rl.network import NetConfig
    from nbcell.policies.rl.ppo import PPOConfig
    from nbcell.policies.rl.train import TrainOptions, run

    t = cfg.train
    tgt = _target(cfg)
    if not t.sources:
        raise UsageError("train needs at least one training library: source=NAME or source=[A,B]")
    agent = str(t.get("agent", "placement"))
    if agent == "router":
        return _train_router(cfg, tgt)
    if agent != "placement":
        raise UsageError(f"train.agent={agent}: placement or router")
    given = OmegaConf.to_container(t)
    known = set(TrainOptions.__dataclass_fields__)
    unknown = sorted(set(given) - known - {"sources", "out", "agent", "router"})
    if unknown:
        raise UsageError(f"train: unknown option(s) {', '.join(unknown)}")
    given.update(buckets=tuple(int(b) for b in t.buckets), seed=number("seed", cfg.seed, int, 0, MAX_SEED), net=NetConfig(**given["net"]),
                 ppo=PPOConfig(**given["ppo"]), export=str(t.export) if t.export else None)
    opts = TrainOptions(**{k: v for k, v in given.items() if k in known})
    rule = sizing_rule(cfg)
    try:
        metrics = run([library_path(str(s)) for s in t.sources], tgt, Path(t.out), opts, rule, cfg.process)
    except ValueError as e:
        raise UsageError(str(e)) from None
    sys.stdout.write(json.dumps({k: round(float(v), 5) for k, v in metrics.items()}) + "\n")
    return 0


def _train_router(cfg: DictConfig, tgt) -> int:
    """``nbcell train train.agent=router``: the routing agent on the sources' cells (sized for the
    target), checkpoints and metrics under ``train.out``; prints the last metrics as JSON."""
    from nbcell.policies.rl.data import sized_cells
    from nbcell.policies.rl.route_ppo import RoutePPOConfig, train_router

    t, r = cfg.train, cfg.train.router
    cells = [c for s in t.sources for c in sized_cells(library_path(str(s)), tgt)]
    try:
        meta = train_router(Path(t.out), cells, tgt.name, float(r.minutes), tuple(int(b) for b in r.buckets),
                            tuple(int(s) for s in r.seeds), float(r.holdout), int(r.bc_iters),
                            cfg=RoutePPOConfig(**OmegaConf.to_container(r.ppo)), bc_lr=float(r.bc_lr),
                            ppo_lr=float(r.ppo_lr), seed=number("seed", cfg.seed, int, 0, MAX_SEED), checkpoint_every=int(r.checkpoint_every),
                            resume=bool(t.resume), export=str(t.export) if t.export else None)
    except (ValueError, TypeError) as e:
        raise UsageError(f"train.router: {e}") from None
    last = meta.get("last") or {}
    sys.stdout.write(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in last.items()}) + "\n")
    return 0


def port_out(cfg: DictConfig) -> Path:
    """``out``; under ``-m`` each run of the sweep gets a folder below it named by the keys swept
    (``policy=anneal,target=gf180mcu_9t``; never by the shard keys or ``jobs``: see ``_dirname_keys``)."""
    out = Path(cfg.out)
    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN and hc.job.override_dirname:
        out = out / hc.job.override_dirname
    return out


def _batch_options(cfg: DictConfig):
    from nbcell.batch import BatchOptions

    jobs, count = number("jobs", cfg.jobs, int, 0, MAX_JOBS), number("shard_count", cfg.shard_count, int, 1)
    index = number("shard_index", cfg.shard_index, int, 0)
    timeout = None if cfg.cell_timeout is None else number("cell_timeout", cfg.cell_timeout, float)
    if timeout is not None and timeout <= 0:
        raise UsageError(f"cell_timeout={cfg.cell_timeout}: seconds > 0, or null for no limit")
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"shard_index={index} shard_count={count}: need 0 <= shard_index < shard_count")
    backend = cfg.backend
    return BatchOptions(jobs, timeout, str(backend.name), backend.get("address"), backend.get("num_cpus"), index,
                        count)


_SWEEP_CODES: list[int] = []
# keys that never name a sweep's run folder: shards of one job share their out folder
_NOT_IN_DIRNAME = ("command", "out", "jobs", "cell_timeout", "backend", "backend.address", "backend.num_cpus",
                   "shard_index", "shard_count")
_SWEEP_FUNCTIONS = ("range(", "choice(", "glob(", "interval(", "shuffle(", "sort(")


def _is_sweep(value: str) -> bool:
    """A Hydra sweep value: ``a,b`` (a comma outside brackets and quotes) or ``range(...)`` and kin."""
    if value.startswith(_SWEEP_FUNCTIONS):
        return True
    depth, quote = 0, ""
    for ch in value:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif ch == "," and depth == 0:
            return True
    return False


def _dirname_keys(overrides: list[str]) -> str:
    """The override making Hydra's ``override_dirname`` (a sweep run's folder) name only swept keys."""
    keys = {a.split("=", 1)[0].lstrip("+~") for a in overrides if "=" in a}
    swept = {a.split("=", 1)[0].lstrip("+~") for a in overrides if "=" in a and _is_sweep(a.split("=", 1)[1])}
    exclude = sorted((keys - swept) | set(_NOT_IN_DIRNAME))
    return f"hydra.job.config.override_dirname.exclude_keys=[{','.join(k for k in exclude if '/' not in k)}]"


# Hydra's flags that take a value; argparse needs every flag before the overrides
_VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir",
                "-cd", "--experimental-rerun"}
_INFO = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}


def _hydra_flags(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split ``argv`` into Hydra's flags (``-m``, ``--cfg job`` ...) and the overrides."""
    flags, rest, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("-"):
            flags.append(a)
            takes = a in _VALUE_FLAGS or (a in ("--info", "-i") and i + 1 < len(argv) and argv[i + 1] in _INFO)
            if takes and i + 1 < len(argv):
                flags.append(argv[i + 1])
                i += 1
        else:
            rest.append(a)
        i += 1
    return flags, rest


@hydra.main(config_path="conf", config_name="config", version_base=None)
def _app(cfg: DictConfig) -> int:
    handler = {"cells": cmd_cells, "size": cmd_size, "port": cmd_port, "check": cmd_check, "rules": cmd_rules, "report": cmd_report,
               "show": cmd_show, "train": cmd_train}[cfg.command]
    try:
        code = handler(cfg)
    except (UsageError, PdkError, FileNotFoundError) as e:
        log.error("%s", e)
        code = 2
    if code and HydraConfig.get().mode == RunMode.MULTIRUN:
        _SWEEP_CODES.append(code)  # one run of a sweep: the others still run; main() exits with the worst
    elif code:
        # hydra.main swallows return values; leave with the status ourselves
        sys.exit(code)
    return code


def _rewrite_train(arg: str) -> str:
    """``nbcell train``: ``source=A`` / ``source=[A,B]`` name the training libraries and ``out=`` the run
    folder (``train.sources``, ``train.out``)."""
    if arg.startswith("source="):
        val = arg.removeprefix("source=")
        return "train.sources=" + (val if val.startswith("[") else f"[{val}]")
    if arg.startswith("out="):
        return "train." + arg
    return arg


def _rewrite(arg: str) -> list[str]:
    """``source=PATH`` / ``target=FILE.yaml`` become field overrides when not a group option;
    ``source=[A,B]`` (several libraries) becomes ``sources=[A,B]``."""
    if arg.startswith("source=["):
        return ["sources=" + arg.removeprefix("source=")]
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
    flags, argv = _hydra_flags(argv)
    args = [*flags, f"command={cmd}"]
    for a in argv:
        if cmd == "show" and "=" not in a and not a.startswith("-"):
            a = f"name={a}"  # nbcell show NAME: the cell name may come first, without name=
        if cmd == "train":
            a = _rewrite_train(a)
        args.extend(_rewrite(a))
    if "-m" in flags or "--multirun" in flags:
        args.append(_dirname_keys(args))
    sys.argv = [sys.argv[0], *args]
    _app()
    if _SWEEP_CODES:
        sys.exit(max(_SWEEP_CODES))


if __name__ == "__main__":
    main()
