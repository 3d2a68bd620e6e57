"""Re-size a source cell for a target process and fold wide devices into fingers.

Default width rule (``inverter_ratio``): a device keeps its width ratio to the
source library's minimum inverter device of the same type, mapped onto the
target library's minimum inverter; the result is split into the fewest
fingers that fit the template's diffusion row, each finger snapped to the
manufacturing grid and clamped to the target's minimum width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from nbcell.limits import MAX_CELL_FINGERS, MAX_FINGERS
from nbcell.netlist import Cell, Device, Transistor
from nbcell.pdk import Process

WidthRule = Literal["inverter_ratio", "scale", "keep"]
LengthRule = Literal["target", "ratio"]


@dataclass(frozen=True)
class SizingRule:
    """How widths and lengths carry over.

    width: ``inverter_ratio`` (default), ``scale`` (multiply by ``scale``) or ``keep``.
    length: ``target`` sets every L to the target device's minimum; ``ratio``
    keeps long-channel devices long (L_t = L_t,min · L_s / L_s,min).
    """

    width: WidthRule = "inverter_ratio"
    length: LengthRule = "target"
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.width not in ("inverter_ratio", "scale", "keep"):
            raise ValueError(f"sizing.width={self.width}: inverter_ratio, scale or keep")
        if self.length not in ("target", "ratio"):
            raise ValueError(f"sizing.length={self.length}: target or ratio")
        if not (isinstance(self.scale, (int, float)) and 0 < self.scale < math.inf):
            raise ValueError(f"sizing.scale={self.scale}: a finite number > 0")


class SizingError(ValueError):
    """A cell that cannot be sized for the target (names the cell and the device)."""


def _at(ref) -> str:
    return f"{ref}: " if ref else ""


def snap(x: float, grid: float, mode: Literal["nearest", "down", "up"] = "nearest") -> float:
    """Snap a length (µm) to the grid; robust to float noise."""
    q = x / grid
    k = {"nearest": round, "down": lambda v: math.floor(v + 1e-9), "up": lambda v: math.ceil(v - 1e-9)}[mode](q)
    return round(k * grid, 6)


def fold(total_w: float, max_finger: float, w_min: float, grid: float) -> tuple[int, float]:
    """Fewest fingers of equal width that fit ``max_finger`` (µm): returns (fingers, finger width)."""
    if max_finger < w_min:
        raise SizingError(f"diffusion row holds {max_finger} µm, less than the minimum width {w_min} µm")
    total_w = max(total_w, w_min)
    if not total_w <= MAX_FINGERS * max_finger:
        raise SizingError(f"{total_w:g} µm wide needs more than {MAX_FINGERS} fingers of {max_finger} µm "
                          "(nbcell.limits.MAX_FINGERS)")
    nf = max(1, math.ceil(total_w / max_finger - 1e-9))
    w = snap(total_w / nf, grid)
    if w > max_finger:
        w = snap(max_finger, grid, "down")
    return nf, max(w, snap(w_min, grid, "up"))


def _net_map(cell: Cell, src: Process, tgt: Process) -> dict[str, str]:
    """Rename supply and body nets to the target library's names."""
    s, t = src.supplies, tgt.supplies
    out = {s.power: t.power, s.ground: t.ground}
    if s.nwell_body:
        out[s.nwell_body] = t.nwell_body or t.power
    if s.pwell_body:
        out[s.pwell_body] = t.pwell_body or t.ground
    return {k: v for k, v in out.items() if k in cell.pins or any(k in tr.terminals for tr in cell.transistors)}


def size_cell(cell: Cell, src: Process, tgt: Process, rule: SizingRule = SizingRule()) -> Cell:
    """The cell re-sized for ``tgt``: target models, L, per-finger W, target supply names."""
    if tgt.template is None:
        raise SizingError(f"{tgt.name} has no cell template; it can only be a source")
    nmap = _net_map(cell, src, tgt)
    grid = tgt.technology.grid
    tdev = tgt.all_devices
    out: list[Transistor] = []
    for t in cell.transistors:
        try:
            model = tgt.target_model(t.type, t.flavour)
        except KeyError:
            raise SizingError(_no_device(t.name, f"{t.type}-MOS", t.model, t.ref, cell, tgt)) from None
        dm = tdev[model]
        row = tgt.template.n_row if t.type == "n" else tgt.template.p_row
        w_min = max(dm.w_min or 0.0, grid)
        l_min = dm.l_min or row.gate_length
        length = max(l_min, row.gate_length)
        if rule.length == "ratio":
            s_dm = src.device(t.model)
            s_lmin = (s_dm.l_min if s_dm else None) or t.l
            length = snap(max(length, length * t.l / s_lmin), grid)
        if rule.width == "inverter_ratio":
            s_ref = src.min_inverter.n if t.type == "n" else src.min_inverter.p
            t_ref = tgt.min_inverter.n if t.type == "n" else tgt.min_inverter.p
            total = t.total_w / s_ref * t_ref
        elif rule.width == "scale":
            total = t.total_w * rule.scale
        else:
            total = t.total_w
        try:
            nf, w = fold(total, row.max_finger_w, w_min, grid)
        except SizingError as e:
            raise SizingError(f"{_at(t.ref)}cell {cell.name}: {t.name}: {e}") from None
        b = t.bulk
        if t.bulk in (src.supplies.power, src.supplies.ground) and (tgt.supplies.nwell_body or tgt.supplies.pwell_body):
            # the target draws separate body pins (well ties live in tap cells)
            b = (tgt.supplies.pwell_body if t.type == "n" else tgt.supplies.nwell_body) or t.bulk
        out.append(Transistor(t.name, nmap.get(t.drain, t.drain), nmap.get(t.gate, t.gate),
                              nmap.get(t.source, t.source), nmap.get(b, b), model, t.type,
                              dm.flavour, w, length, nf, 1, t.ref))
    fingers = sum(t.nf for t in out)
    if fingers > MAX_CELL_FINGERS:
        raise SizingError(f"{_at(cell.ref)}cell {cell.name}: {fingers} fingers after sizing, over the limit of "
                          f"{MAX_CELL_FINGERS} (nbcell.limits.MAX_CELL_FINGERS)")
    devices = [_port_device(d, cell, src, tgt, nmap) for d in cell.devices]
    pins = [nmap.get(p, p) for p in cell.pins]
    for body in (tgt.supplies.nwell_body, tgt.supplies.pwell_body):
        if body and body not in pins and any(x.bulk == body for x in out):
            pins.append(body)
    return Cell(cell.name, tuple(dict.fromkeys(pins)), out, devices, cell.ref, dict(cell.pin_directions))


def _port_device(d: Device, cell: Cell, src: Process, tgt: Process, nmap: dict[str, str]) -> Device:
    """Shorts stay shorts; a diode becomes the target diode of the same polarity."""
    nodes = tuple(nmap.get(n, n) for n in d.nodes)
    if d.kind == "short":
        return Device(d.name, d.kind, nodes, "short", d.params, d.ref)
    if d.kind == "diode":
        s_dm = src.device(d.model)
        want = s_dm.type if s_dm else None
        diodes = [(name, dm) for name, dm in tgt.all_devices.items() if dm.kind == "diode"]
        match = [name for name, dm in diodes if dm.type == want] or [name for name, _ in diodes]
        if match:
            return Device(d.name, d.kind, nodes, match[0], d.params, d.ref)
    raise SizingError(_no_device(d.name, d.kind, d.model, d.ref, cell, tgt))


def _no_device(name: str, kind: str, model: str, ref, cell: Cell, tgt: Process) -> str:
    """The one message for a device of any kind the target cannot make."""
    return f"{_at(ref)}cell {cell.name}: {name}: the target {tgt.name} has no {kind} device for {model!r}"


def check_sized(cell: Cell, tgt: Process) -> list[str]:
    """Problems of a sized cell against the target (empty if every W, L and finger is legal)."""
    probs = []
    grid = tgt.technology.grid
    for t in cell.transistors:
        dm = tgt.all_devices.get(t.model)
        row = tgt.template.n_row if t.type == "n" else tgt.template.p_row
        if dm is None:
            probs.append(f"{t.name}: model {t.model} is not a target device")
            continue
        if dm.w_min and t.w < dm.w_min - 1e-9:
            probs.append(f"{t.name}: W {t.w} below minimum {dm.w_min}")
        if dm.l_min and t.l < dm.l_min - 1e-9:
            probs.append(f"{t.name}: L {t.l} below minimum {dm.l_min}")
        if t.w > row.max_finger_w + 1e-9:
            probs.append(f"{t.name}: finger W {t.w} exceeds the diffusion row ({row.max_finger_w})")
        for v, what in ((t.w, "W"), (t.l, "L")):
            if abs(v / grid - round(v / grid)) > 1e-6:
                probs.append(f"{t.name}: {what} {v} off the {grid} grid")
    return probs
