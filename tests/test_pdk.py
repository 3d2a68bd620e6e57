"""Process definitions (nbcell/pdk/data): they load, they agree with the verified
fact sheets (../shared/pdk-facts) and with the real foundry libraries
(../shared/celllibs), and broken files fail with the file and field named.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from conftest import CELLLIBS, REPO
from nbcell.pdk import DATA, PdkError, Process, list_processes, load_process, load_technology

FACTS = Path(os.environ.get("NBCELL_SHARED", REPO.parent / "shared")) / "pdk-facts"

TARGETS = ["gf180mcu_7t", "gf180mcu_9t", "sky130_hd", "sg13g2"]
SOURCES = ["sky130_hdll", "sky130_hvl", "sky130_hs", "sky130_ms", "sky130_ls", "asap7", "builtin"]
ALL = TARGETS + SOURCES
#: fact sheet -> (technology, [(target process, template section of the sheet)])
SHEETS = {
    "gf180mcu": ("gf180mcu", [("gf180mcu_7t", "template"), ("gf180mcu_9t", "template_9t")]),
    "sky130": ("sky130", [("sky130_hd", "template")]),
    "sg13g2": ("sg13g2", [("sg13g2", "template")]),
}
TECHS = sorted(p.stem for p in (DATA / "tech").glob("*.yaml"))


# ---------------------------------------------------------------------------- helpers
@lru_cache(maxsize=None)
def facts(sheet: str) -> dict:
    path = FACTS / f"{sheet}.yaml"
    if not path.is_file():
        pytest.skip(f"fact sheet {path} not found (set NBCELL_SHARED to the folder holding pdk-facts/)")
    return yaml.safe_load(path.read_text())


def fact_template(sheet: str, section: str) -> dict:
    """A template section of a sheet; template_9t only lists what differs from template."""
    f = facts(sheet)
    return {**f["template"], **f[section]}


def library(name: str) -> Path:
    path = CELLLIBS / name
    if not path.is_dir():
        pytest.skip(f"library {name} not found under {CELLLIBS} (set NBCELL_CELLLIBS)")
    return path


def approx(x: float):
    return pytest.approx(x, abs=1e-6)


_SUFFIX = {"meg": 1e6, "t": 1e12, "g": 1e9, "k": 1e3, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}


def to_um(text: str) -> float:
    """A netlist length in um: SI metres (8.2e-07, 1.32U, 27n), plain um (0.65) or
    the sky130 '.option scale=1e-6' style (650000u = 0.65 um)."""
    m = re.fullmatch(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)(meg|[tgkmunpf])?\w*", text.lower())
    assert m, f"not a number: {text!r}"
    value = float(m[1])
    if m[2]:
        um = value * _SUFFIX[m[2]] * 1e6
        return um * 1e-6 if um > 1e3 else um
    return value * 1e6 if value < 1e-3 else value


def netlist_files(lib: Path) -> list[Path]:
    return sorted(f for sub in ("spice", "cdl") if (lib / sub).is_dir() for f in (lib / sub).iterdir() if f.is_file())


BUILTIN_LIBRARY = "nbcell_builtin"


def netlist_texts(lib_name: str) -> list[tuple[str, str]]:
    """[(origin, netlist text)] of a library: the generated built-in one, or the files of a real one."""
    if lib_name == BUILTIN_LIBRARY:
        try:
            from nbcell import builtin

            return [("builtin", builtin.library_text())]
        except (ImportError, AttributeError) as e:
            pytest.skip(f"built-in library generator not available: {e}")
    lib = library(lib_name)
    return [(f.parent.name, f.read_text(errors="replace")) for f in netlist_files(lib)]


@lru_cache(maxsize=None)
def netlist_cards(lib_name: str) -> tuple[dict[str, list[list[str]]], set[str]]:
    """{origin:subckt: [device card tokens]} over all netlists of a library, and the subckt names."""
    bodies: dict[str, list[list[str]]] = {}
    for origin, raw in netlist_texts(lib_name):
        text = re.sub(r"\n\+", " ", raw)
        cur: list[list[str]] | None = None
        for line in text.splitlines():
            toks = line.split("$")[0].split()
            if not toks or toks[0][0] in "*;":
                continue
            head = toks[0].lower()
            if head == ".subckt":
                cur = bodies.setdefault(f"{origin}:{toks[1]}", [])
            elif head == ".ends":
                cur = None
            elif cur is not None and head[0] in "mxdrc":
                cur.append(toks)
    names = {k.split(":", 1)[1] for k in bodies}
    return bodies, names


def card_model(toks: list[str], subckts: set[str]) -> str | None:
    """The model name of one device card (None for subcircuit calls and plain values)."""
    pos = [t for t in toks if "=" not in t]
    kind = toks[0][0].lower()
    if kind == "m":
        model = pos[5] if len(pos) > 5 else None
    elif kind in "drc":
        model = pos[3] if len(pos) > 3 else None
    else:  # X: last positional token
        model = pos[-1]
    if model is None or model in subckts or re.match(r"^[-+.\d]", model):
        return None
    return model


def params(toks: list[str]) -> dict[str, str]:
    return {k.lower(): v for k, v in (t.split("=", 1) for t in toks if "=" in t)}


@lru_cache(maxsize=None)
def read_gds(path: Path):
    db = pytest.importorskip("klayout.db")
    layout = db.Layout()
    layout.read(str(path))
    return layout


def inv_layout(proc: Process):
    """(layout, cell) of the library's minimum inverter."""
    lib = library(proc.template.library)
    cell = proc.min_inverter.cell
    files = sorted((lib / "gds").glob("*.gds"))
    files.sort(key=lambda f: cell not in f.name)
    for f in files:
        layout = read_gds(f)
        if layout.has_cell(cell):
            return layout, layout.cell(cell)
    pytest.skip(f"no GDS with cell {cell} under {lib / 'gds'}")


def layer_region(layout, cell, proc: Process, name: str):
    import klayout.db as db

    ln, dt = proc.technology.layer(name)
    li = layout.find_layer(ln, dt)
    if li is None:
        return db.Region()
    return db.Region(cell.begin_shapes_rec(li)).merged()


# ---------------------------------------------------------------------------- loading
def test_every_bundled_process_loads():
    assert set(ALL) <= set(list_processes())
    for name in list_processes():
        proc = load_process(name)
        assert proc.name == name
        assert proc.supplies.power and proc.supplies.ground
        assert proc.libraries, f"{name}: no libraries"


def test_targets_have_templates_and_sources_do_not():
    assert set(list_processes(targets_only=True)) == set(TARGETS)
    for name in TARGETS:
        proc = load_process(name)
        assert proc.is_target and proc.template is not None
        assert proc.template.library in proc.libraries
        for role in ("n", "p"):
            assert proc.all_devices[proc.target_devices[role]].type == role
    for name in SOURCES:
        assert load_process(name).template is None


@pytest.mark.parametrize("tech", TECHS)
def test_rules_unique_and_devices_typed(tech):
    t = load_technology(tech)
    keys = [(r.id, r.kind, tuple(r.layers)) for r in t.rules]
    dup = {k for k in keys if keys.count(k) > 1}
    assert not dup, f"{tech}: duplicate rules {dup}"
    assert t.devices
    for name, dev in t.devices.items():
        if dev.kind == "mos":
            assert dev.type in ("n", "p") and dev.flavour, name


def test_target_device_roles():
    hd = load_process("sky130_hd")
    # the hd template draws hvtp over the P row: every P flavour becomes hvt
    assert hd.target_model("p", "svt") == "sky130_fd_pr__pfet_01v8_hvt"
    assert hd.target_model("p", "hvt") == "sky130_fd_pr__pfet_01v8_hvt"
    assert hd.target_model("n", "hv") == "sky130_fd_pr__nfet_01v8"
    assert load_process("sg13g2").all_devices["sg13_lv_nmos"].w_is_total
    gf = load_process("gf180mcu_7t").all_devices
    assert (gf["nfet_05v0"].lvs_name, gf["pfet_05v0"].lvs_name) == ("nmos_5p0", "pmos_5p0")


# ---------------------------------------------------------------------------- fact sheets
@pytest.mark.parametrize("sheet", sorted(SHEETS))
def test_layers_match_fact_sheet(sheet):
    f = facts(sheet)
    tech = load_technology(SHEETS[sheet][0])
    expected = {name: tuple(v["gds"]) for name, v in f["layers"].items()}
    got = {name: lay.gds for name, lay in tech.layers.items()}
    # every fact-sheet layer with its number; layers added beyond the sheet (sky130 met3..met5
    # for the probe cells) must not reuse a number of the sheet
    assert {k: got.get(k) for k in expected} == expected
    extra = {k: v for k, v in got.items() if k not in expected}
    assert not set(extra.values()) & set(expected.values())
    assert tech.dbu == f["dbu"] and tech.grid == f["manufacturing_grid"]


#: ``cond`` prefix of a public rule that nbcell checks although the fact sheet lacks it
NOT_IN_SHEET = "not in the fact sheet:"


@pytest.mark.parametrize("sheet", sorted(SHEETS))
def test_derived_and_rules_match_fact_sheet(sheet):
    """Same rules, in the same order, with the same values; nbcell checks every rule the sheet
    checks, and may check a rule the sheet skips (read strictly: CO.6a is not implied by CO.6b);
    rules the sheet lacks may follow, marked ``cond: "not in the fact sheet: <deck>"``."""
    f = facts(sheet)
    tech = load_technology(SHEETS[sheet][0])
    assert tech.derived == f["derived"]

    def key(r: dict) -> tuple:
        check = r.get("check") or {}
        exc = r.get("exceptions") or {}
        return (r["id"], r["kind"], tuple(r["layers"]), r.get("value"), r.get("trigger"),
                check.get("metric", "euclidian"), check.get("zero_distance"), tuple(exc.get("cells", [])))

    # public rules the sheet lacks are added, checked, and marked with the deck they come from
    extra = [r for r in tech.rules if r.cond.startswith(NOT_IN_SHEET)]
    assert all(r.checked for r in extra), [r.id for r in extra if not r.checked]
    assert not {r.id for r in extra} & {fr["id"] for fr in f["rules"]}
    mine = [r.model_dump() for r in tech.rules if r not in extra]
    assert [key(r) for r in mine] == [key(r) for r in f["rules"]]
    skipped_here = [r["id"] for r, fr in zip(mine, f["rules"])
                    if (r["check"] or {}).get("skip") is not None and not (fr.get("check") or {}).get("skip")]
    assert not skipped_here, f"{sheet}: rules the fact sheet checks but nbcell skips"


@pytest.mark.parametrize("sheet", sorted(SHEETS))
def test_devices_match_fact_sheet(sheet):
    f = facts(sheet)
    tech = load_technology(SHEETS[sheet][0])
    for name, d in f["devices"].items():
        if not isinstance(d, dict):
            continue
        dev = tech.devices[name]
        assert dev.type == d["type"][0], name
        assert dev.l_min == approx(d["L_min"]) and dev.w_min == approx(d["W_min_rule"]), name
        assert dev.lvs_name == d.get("lvs_name"), name
        assert set(d.get("markers", [])) <= set(dev.recognition), name
        assert set(d.get("absent_markers", [])) <= set(dev.absent), name
        if d.get("cdl_name"):
            short = tech.devices[d["cdl_name"]]
            assert (short.type, short.flavour, short.l_min) == (dev.type, dev.flavour, dev.l_min)


@pytest.mark.parametrize("sheet,proc_name,section",
                         [(s, p, sec) for s, (_, procs) in SHEETS.items() for p, sec in procs])
def test_template_matches_fact_sheet(sheet, proc_name, section):
    ft = fact_template(sheet, section)
    t = load_process(proc_name).template
    assert t.library == ft["library"]
    assert (t.site.name, t.site.width, t.site.height) == (ft["site"]["name"], ft["site"]["width"], ft["site"]["height"])
    assert t.height == ft["cell_height"]
    rails = {r.net: (r.layer, r.y0, r.y1) for r in t.rails}
    for net, r in ft["power_rails"].items():
        if isinstance(r, dict) and "layer" in r:
            assert rails[net] == (r["layer"], *r["y"]), net
    nwell = ft["nwell"]
    assert (t.wells["nwell"].y0, t.wells["nwell"].y1) == tuple(nwell["y"])
    assert t.wells["nwell"].x_overhang == nwell["x_overhang"]
    for row, key, typ in ((t.n_row, "n_diffusion_row", "nmos"), (t.p_row, "p_diffusion_row", "pmos")):
        fr = ft[key]
        assert (row.y0, row.y1) == tuple(fr["envelope_y"])
        assert row.max_finger_w == fr["max_gate_width"]
        gl, cp, up = ft["gate_length"], ft["contacted_poly_pitch"], ft["uncontacted_poly_pitch_min"]
        assert row.gate_length == (gl[typ] if isinstance(gl, dict) else gl)
        assert row.contacted_pitch == (cp[typ] if isinstance(cp, dict) else cp)
        assert row.uncontacted_pitch == (up[typ] if isinstance(up, dict) else up)
    tracks = ft["routing_tracks_tech_lef"]
    if isinstance(tracks, dict):
        layers = load_process(proc_name).technology.layers
        for lay, tr in tracks.items():
            if lay.lower() not in layers:  # e.g. IHP Metal4: above what the technology file describes
                continue
            mine = t.tracks[lay.lower()]
            assert mine.direction == tr["direction"] and mine.width == tr["width"], lay
            assert mine.pitch == tr.get("pitch", tr.get("pitch_x")), lay
            assert mine.offset == tr.get("offset", tr.get("offset_x")), lay


# ---------------------------------------------------------------------------- real libraries
@pytest.mark.parametrize("name", TARGETS)
def test_site_matches_lef(name):
    t = load_process(name).template
    lib = library(t.library)
    pat = re.compile(rf"^\s*SITE\s+{re.escape(t.site.name)}\s*$(.*?)^\s*END\s+{re.escape(t.site.name)}",
                     re.MULTILINE | re.DOTALL)
    for f in sorted((lib / "techlef").glob("*.*lef")) + sorted((lib / "lef").glob("*.lef")):
        m = pat.search(f.read_text(errors="replace"))
        if m:
            size = re.search(r"SIZE\s+([\d.]+)\s+BY\s+([\d.]+)", m[1])
            assert (float(size[1]), float(size[2])) == (approx(t.site.width), approx(t.site.height)), f.name
            return
    pytest.skip(f"no SITE {t.site.name} in the LEF files of {lib}")


@pytest.mark.parametrize("name", TARGETS)
def test_rails_and_bands_match_inv_gds(name):
    proc = load_process(name)
    t = proc.template
    layout, cell = inv_layout(proc)
    dbu = layout.dbu
    box = layer_region(layout, cell, proc, t.boundary_layer).bbox()
    assert (box.bottom * dbu, box.top * dbu) == (approx(0.0), approx(t.height))
    width = box.width()
    for layer in {r.layer for r in t.rails}:
        # the part of the metal that spans the whole cell width = the rails
        full = layer_region(layout, cell, proc, layer).sized(-(width // 2 - 1), 0, 2)
        got = sorted((p.bbox().bottom * dbu, p.bbox().top * dbu) for p in full.each())
        want = sorted((r.y0, r.y1) for r in t.rails if r.layer == layer)
        assert got == [(approx(a), approx(b)) for a, b in want], layer
    for group in (t.wells, t.implants, t.markers):
        for lay, span in group.items():
            b = layer_region(layout, cell, proc, lay).bbox()
            assert (b.bottom * dbu, b.top * dbu) == (approx(span.y0), approx(span.y1)), lay
            assert -b.left * dbu == approx(span.x_overhang), lay
            assert (b.right - box.right) * dbu == approx(span.x_overhang), lay
    nw = layer_region(layout, cell, proc, t.layer_roles["nwell"])
    assert nw.bbox().bottom * dbu == approx(t.wells["nwell"].y0)


@pytest.mark.parametrize("name", ALL)
def test_min_inverter_matches_netlist(name):
    proc = load_process(name)
    lib_name = proc.libraries[0]
    bodies, subckts = netlist_cards(lib_name)
    cell = proc.min_inverter.cell
    cards = next((v for k, v in bodies.items() if k.split(":", 1)[1] == cell), None)
    if cards is None:
        pytest.skip(f"no netlist of {cell} in {lib_name}")
    widths: dict[str, set[float]] = {"n": set(), "p": set()}
    devices = proc.all_devices
    for toks in cards:
        model = card_model(toks, subckts)
        dev = devices.get(model)
        if dev is None or dev.kind != "mos":
            continue
        p = params(toks)
        w = to_um(p["w"])
        if dev.w_is_total:
            w /= float(p.get("ng", 1))
        widths[dev.type].add(round(w, 6))
    assert widths == {"n": {proc.min_inverter.n}, "p": {proc.min_inverter.p}}


@pytest.mark.parametrize("name", ALL)
def test_every_netlist_model_is_a_device(name):
    proc = load_process(name)
    known = set(proc.all_devices)
    for lib_name in proc.libraries:
        bodies, subckts = netlist_cards(lib_name)
        models = {m for cards in bodies.values() for toks in cards if (m := card_model(toks, subckts))}
        assert models, lib_name
        assert models <= known, f"{lib_name}: unknown models {sorted(models - known)}"


def test_netlist_width_units():
    assert to_um("8.2e-07") == approx(0.82)
    assert to_um("1.320000U") == approx(1.32)
    assert to_um("650000u") == approx(0.65)
    assert to_um("1e+06u") == approx(1.0)
    assert to_um("0.65") == approx(0.65)
    assert to_um("27.0n") == approx(0.027)
    assert to_um("1.12u") == approx(1.12)


# ---------------------------------------------------------------------------- broken files
def _base() -> dict:
    return yaml.safe_load((DATA / "gf180mcu_7t.yaml").read_text())


def _write(tmp_path: Path, data: dict | str, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def _error(path: Path) -> PdkError:
    with pytest.raises(PdkError) as exc:
        load_process(path)
    return exc.value


def test_broken_missing_field(tmp_path):
    data = _base()
    del data["template"]["site"]["width"]
    err = _error(_write(tmp_path, data))
    assert "broken.yaml" in str(err) and "template.site.width" in str(err)


def test_broken_wrong_type(tmp_path):
    data = _base()
    data["template"]["height"] = "tall"
    err = _error(_write(tmp_path, data))
    assert "broken.yaml" in str(err) and "template.height" in str(err)


def test_broken_negative_width(tmp_path):
    data = _base()
    data["template"]["site"]["width"] = -0.56
    err = _error(_write(tmp_path, data))
    assert "broken.yaml" in str(err) and "template.site.width" in str(err)


def test_broken_yaml_syntax(tmp_path):
    text = (DATA / "gf180mcu_7t.yaml").read_text().replace("libraries: [", "libraries: [[", 1)
    err = _error(_write(tmp_path, text))
    assert "broken.yaml" in str(err) and "line" in err.field


def test_broken_unknown_technology(tmp_path):
    data = _base()
    data["technology"] = "no_such_tech"
    err = _error(_write(tmp_path, data))
    assert "broken.yaml" in str(err) and err.field == "technology"


def test_broken_unknown_layer_in_template(tmp_path):
    data = _base()
    data["template"]["rails"][0]["layer"] = "metal9"
    err = _error(_write(tmp_path, data))
    assert "broken.yaml" in str(err) and "template" in err.field + err.reason and "metal9" in str(err)


def _broken_tech(tmp_path: Path, rule: dict) -> PdkError:
    tech = yaml.safe_load((DATA / "tech" / "gf180mcu.yaml").read_text())
    tech["rules"].append(rule)
    _write(tmp_path, tech, "broken_tech.yaml")
    data = _base()
    data["technology"] = "broken_tech.yaml"
    return _error(_write(tmp_path, data))


def test_broken_unknown_layer_in_rule(tmp_path):
    err = _broken_tech(tmp_path, {"id": "M9.1", "kind": "width", "layers": ["metal9"], "value": 0.3})
    n = len(load_technology("gf180mcu").rules)
    assert "broken_tech.yaml" in str(err) and f"rules[{n}]" in str(err) and "metal9" in str(err)


def test_broken_rule_without_value(tmp_path):
    err = _broken_tech(tmp_path, {"id": "M1.99", "kind": "width", "layers": ["metal1"]})
    n = len(load_technology("gf180mcu").rules)
    assert "broken_tech.yaml" in str(err) and err.field == f"rules.{n}" and "needs a value" in str(err)
