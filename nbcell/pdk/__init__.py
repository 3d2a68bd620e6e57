"""Process definitions as data: ``nbcell/pdk/data/*.yaml`` validated into typed objects.

A process file names its technology (``data/tech/<name>.yaml``: layers, rules,
devices) and adds the library conventions and, for targets, the cell template.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from nbcell.limits import MAX_PROCESS_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES

from nbcell.pdk.model import (
    DeviceModel,
    DiffusionRow,
    Layer,
    MinInverter,
    Process,
    Rule,
    Span,
    Supplies,
    Technology,
    Template,
)

DATA = Path(__file__).parent / "data"
# libyaml's parser when PyYAML has it: ~5x faster, and it bounds nesting itself
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = [
    "DATA", "DeviceModel", "DiffusionRow", "Layer", "MinInverter", "PdkError", "Process", "Rule", "Span",
    "Supplies", "Technology", "Template", "list_processes", "load_process", "load_technology",
    "process_for_library", "process_for_models",
]


class PdkError(ValueError):
    """A process file that cannot be used: names the file and the field."""

    def __init__(self, file: Path | str, field: str, reason: str):
        self.file, self.field, self.reason = str(file), field, reason
        super().__init__(f"{file}: {field}: {reason}" if field else f"{file}: {reason}")


def _read_yaml(path: Path) -> dict:
    """A YAML file as a mapping; PdkError for anything else: too big, not UTF-8, not YAML, too deep,
    too many values (aliases expanded) or an alias inside its own anchor."""
    try:
        size = path.stat().st_size
        if size > MAX_PROCESS_BYTES:
            raise PdkError(path, "", f"file of {size} bytes, over the limit of {MAX_PROCESS_BYTES} "
                                     "(nbcell.limits.MAX_PROCESS_BYTES)")
        raw = path.read_bytes()
    except OSError as e:
        raise PdkError(path, "", f"cannot read: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise PdkError(path, f"line {line}", f"not UTF-8 text (byte 0x{raw[e.start]:02x})") from None
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506  (a safe loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise PdkError(path, where, f"not valid YAML: {getattr(e, 'problem', e)}") from None
    except RecursionError:
        raise PdkError(path, "", f"nested deeper than {MAX_YAML_DEPTH} levels") from None
    if not isinstance(data, dict):
        raise PdkError(path, "", "expected a mapping at the top level")
    _check_tree(path, data)
    return data


def _check_tree(path: Path, data) -> None:
    """PdkError unless ``data`` is a finite tree: at most MAX_YAML_DEPTH deep and MAX_YAML_NODES values
    with aliases expanded (so validation never walks a 'billion laughs' file), no value inside itself."""
    count = 0

    def walk(x, where: str, depth: int, inside: frozenset) -> None:
        nonlocal count
        count += 1
        if count > MAX_YAML_NODES:
            raise PdkError(path, where, f"more than {MAX_YAML_NODES} values with aliases expanded "
                                        "(nbcell.limits.MAX_YAML_NODES)")
        if not isinstance(x, (dict, list)):
            return
        if id(x) in inside:
            raise PdkError(path, where, "refers to itself (an alias inside its own anchor)")
        if depth >= MAX_YAML_DEPTH:
            raise PdkError(path, where, f"nested deeper than {MAX_YAML_DEPTH} levels (nbcell.limits.MAX_YAML_DEPTH)")
        for k, v in (x.items() if isinstance(x, dict) else enumerate(x)):
            walk(v, f"{where}.{k}" if where else str(k), depth + 1, inside | {id(x)})

    walk(data, "", 0, frozenset())


def _validation_error(path: Path, err: ValidationError, prefix: str = "") -> PdkError:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if p not in ("function-after",))
    field = f"{prefix}{loc}" if loc else prefix.rstrip(".")
    msg = first["msg"].removeprefix("Value error, ")
    named = re.match(r"([\w\[\]]+(?:\.[\w\[\]]+)*): (.*)", msg, re.DOTALL)
    if named:  # a model validator's "layer_roles.m1: missing": the field it names goes with the field
        field, msg = ".".join(x for x in (field, named.group(1)) if x), named.group(2)
    more = len(err.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return PdkError(path, field, msg)


def _resolve(name_or_path: str | Path, folder: Path) -> Path:
    p = Path(name_or_path)
    try:
        if p.suffix in (".yaml", ".yml") or p.exists():
            return p
    except (OSError, ValueError) as e:  # a name too long for a path, a NUL in it
        raise PdkError(str(name_or_path)[:200], "", f"no such process definition ({e})") from None
    cand = folder / f"{name_or_path}.yaml"
    if not cand.exists():
        known = ", ".join(sorted(x.stem for x in folder.glob("*.yaml")))
        raise PdkError(cand, "", f"no such process definition (known: {known})")
    return cand


def load_technology(name_or_path: str | Path) -> Technology:
    """Load and validate a technology file (by name from ``data/tech`` or by path)."""
    path = _resolve(name_or_path, DATA / "tech")
    return _load_technology_file(path.resolve())


@functools.lru_cache(maxsize=None)
def _load_technology_file(path: Path) -> Technology:
    data = _read_yaml(path)
    try:
        return Technology.model_validate(data)
    except ValidationError as e:
        raise _validation_error(path, e) from None


def load_process(name_or_path: str | Path) -> Process:
    """Load and validate a process (by name, e.g. ``gf180mcu_7t``, or by YAML path)."""
    path = _resolve(name_or_path, DATA)
    return _load_process_file(path.resolve())


@functools.lru_cache(maxsize=None)
def _load_process_file(path: Path) -> Process:
    data = _read_yaml(path)
    tech = data.get("technology")
    if not isinstance(tech, str) or not re.fullmatch(r"[\w.+-]+|[^\0]+\.ya?ml", tech):
        raise PdkError(path, "technology", "must name a technology file (e.g. 'gf180mcu')")
    tech_path = Path(tech) if tech.endswith((".yaml", ".yml")) else DATA / "tech" / f"{tech}.yaml"
    if not tech_path.is_absolute():
        tech_path = (path.parent / tech_path) if tech.endswith((".yaml", ".yml")) else tech_path
    try:
        found = tech_path.is_file()
    except OSError as e:
        found, tech_path = False, f"{tech_path} ({e.strerror})"
    if not found:
        raise PdkError(path, "technology", f"no technology file {tech_path}")
    data = {**data, "technology": _load_technology_file(tech_path.resolve())}
    try:
        return Process.model_validate(data)
    except ValidationError as e:
        raise _validation_error(path, e) from None


def list_processes(targets_only: bool = False) -> list[str]:
    """Names of the bundled processes (only those with a cell template if ``targets_only``)."""
    names = sorted(p.stem for p in DATA.glob("*.yaml"))
    if targets_only:
        names = [n for n in names if load_process(n).is_target]
    return names


def process_for_library(library: str) -> Process | None:
    """The bundled process whose ``libraries`` list names this library folder, if any."""
    for name in list_processes():
        proc = load_process(name)
        if library in proc.libraries:
            return proc
    return None


def process_for_models(models: set[str]) -> Process | None:
    """The bundled process that knows the most of these device model names (ties: first by name)."""
    best, best_n = None, 0
    for name in list_processes():
        proc = load_process(name)
        n = len(models & set(proc.all_devices))
        if n > best_n:
            best, best_n = proc, n
    return best
