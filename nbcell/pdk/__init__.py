"""Process definitions as data: ``nbcell/pdk/data/*.yaml`` validated into typed objects.

A process file names its technology (``data/tech/<name>.yaml``: layers, rules,
devices) and adds the library conventions and, for targets, the cell template.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from pydantic import ValidationError

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
    try:
        text = path.read_text()
    except OSError as e:
        raise PdkError(path, "", f"cannot read: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise PdkError(path, where, f"not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise PdkError(path, "", "expected a mapping at the top level")
    return data


def _validation_error(path: Path, err: ValidationError, prefix: str = "") -> PdkError:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if p not in ("function-after",))
    field = f"{prefix}{loc}" if loc else prefix.rstrip(".")
    msg = first["msg"].removeprefix("Value error, ")
    more = len(err.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return PdkError(path, field, msg)


def _resolve(name_or_path: str | Path, folder: Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
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
    if not isinstance(tech, str):
        raise PdkError(path, "technology", "must name a technology file (e.g. 'gf180mcu')")
    tech_path = Path(tech) if tech.endswith((".yaml", ".yml")) else DATA / "tech" / f"{tech}.yaml"
    if not tech_path.is_absolute():
        tech_path = (path.parent / tech_path) if tech.endswith((".yaml", ".yml")) else tech_path
    if not tech_path.exists():
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
