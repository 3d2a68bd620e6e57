"""The report page: one self-contained HTML file (inline CSS, JS and SVG; links relative to it)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote

from nbcell.report.plots import STATUS_COLORS, scatter

STATUS_ORDER = ("clean", "drc", "lvs", "timeout", "failed")


@dataclass
class RowFiles:
    """What the page links for one cell: paths relative to the page, thumbnail size in px."""

    thumb: str | None = None
    thumb_size: tuple[int, int] = (0, 0)
    links: dict[str, str] = field(default_factory=dict)  # label (gds, lyrdb, lvsdb) -> relative path


def _num(v: float | None, fmt: str = "g") -> str:
    return "" if v is None else format(v, fmt)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _td(text: str, sort_value: object = None, cls: str = "") -> str:
    v = "" if sort_value is None else f' data-v="{escape(str(sort_value))}"'
    c = f' class="{cls}"' if cls else ""
    return f"<td{v}{c}>{text}</td>"


def _lvs(row: dict) -> tuple[str, int | None]:
    if row.get("lvs_match") is None:
        return "—", None
    if not row["lvs_match"]:
        return '<span class="bad">mismatch</span>', 2
    if row.get("pins_ok") is False:
        return '<span class="bad">pins differ</span>', 1
    return "match", 0


def _row(row: dict, files: RowFiles) -> str:
    name, status = row["name"], row.get("status", "failed")
    if files.thumb:
        w, h = files.thumb_size
        pic = (f'<a href="{quote(files.thumb)}"><img src="{quote(files.thumb)}" loading="lazy" decoding="async" '
               f'width="{w}" height="{h}" alt="layout of {escape(name)}"></a>')
    else:
        pic = '<div class="noimg">no layout</div>'
    rules = row.get("drc_by_rule") or {}
    viol = _num(row.get("drc_violations"))
    if rules:
        viol += '<ul class="rules">' + "".join(
            f"<li>{escape(r)} <b>×{n}</b></li>" for r, n in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))
        ) + "</ul>"
    lvs, lvs_key = _lvs(row)
    width, ref, lb = row.get("width_um"), row.get("reference_width_um"), row.get("lower_bound_um")
    r_ref, r_lb = _ratio(width, ref), _ratio(width, lb)
    links = " ".join(f'<a href="{quote(p)}">{escape(k)}</a>' for k, p in files.links.items())
    error = escape(row.get("error") or "")
    color = STATUS_COLORS.get(status, "#000")
    return (f'<tr data-status="{escape(status)}">' + _td(pic, cls="pic") + _td(escape(name), name, "name")
            + _td(f'<span class="st" style="background:{color}">{escape(status)}</span>',
                  STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER))
            + _td(viol, row.get("drc_violations")) + _td(lvs, lvs_key)
            + _td(_num(width), width) + _td(_num(ref), ref) + _td(_num(r_ref, ".2f"), r_ref)
            + _td(_num(lb), lb) + _td(_num(r_lb, ".2f"), r_lb)
            + _td(_num(row.get("transistors")), row.get("transistors"))
            + _td(_num(row.get("seconds"), ".2f"), row.get("seconds"))
            + _td(escape(row.get("policy") or ""), row.get("policy") or None)
            + _td(links, cls="files") + _td(error, cls="err") + "</tr>")


_COLUMNS = [("layout", None), ("cell", "str"), ("status", "num"), ("DRC", "num"), ("LVS", "num"),
            ("width µm", "num"), ("hand-drawn µm", "num"), ("÷ hand-drawn", "num"), ("lower bound µm", "num"),
            ("÷ lower bound", "num"), ("transistors", "num"), ("seconds", "num"), ("policy", "str"),
            ("files", None), ("error", None)]


def _totals(summary: dict) -> str:
    rows = summary.get("cells", [])
    n = len(rows)
    counts = {s: sum(r.get("status") == s for r in rows) for s in STATUS_ORDER}
    clean = counts["clean"]
    refs = [_ratio(r.get("width_um"), r.get("reference_width_um")) for r in rows]
    refs = [x for x in refs if x is not None]
    lbs = [_ratio(r.get("width_um"), r.get("lower_bound_um")) for r in rows]
    lbs = [x for x in lbs if x is not None]
    cell_s = sum(r.get("seconds") or 0 for r in rows)
    items = [("cells", str(n)), ("clean", f"{clean} ({100 * clean / n:.1f} %)" if n else "0"),
             *((s, str(counts[s])) for s in STATUS_ORDER[1:] if counts[s]),
             ("width ÷ hand-drawn (median)", f"{statistics.median(refs):.2f} over {len(refs)} cells" if refs
              else "no reference widths"),
             ("width ÷ lower bound (median)", f"{statistics.median(lbs):.2f} over {len(lbs)} cells" if lbs else "—"),
             ("time", (f"{summary['elapsed_s']:g} s wall, " if summary.get("elapsed_s") is not None else "")
              + f"{cell_s:.1f} s in cells")]
    return '<dl class="totals">' + "".join(f"<div><dt>{escape(k)}</dt><dd>{v}</dd></div>" for k, v in items) + "</dl>"


def _plots(rows: list[dict]) -> str:
    def pts(key: str) -> list[tuple[str, str, float, float]]:
        return [(r["name"], r.get("status", ""), r[key], r["width_um"]) for r in rows
                if r.get(key) is not None and r.get("width_um") is not None]

    return ('<div class="plots">'
            + scatter(pts("reference_width_um"), "hand-drawn width µm", "ported width µm", "width vs hand-drawn",
                      "no hand-drawn widths: port with reference=LIBDIR to compare")
            + scatter(pts("lower_bound_um"), "lower bound µm", "ported width µm", "width vs lower bound")
            + '<p class="legend">' + " ".join(f'<span class="st" style="background:{c}">{s}</span>'
                                              for s, c in STATUS_COLORS.items())
            + "<br>points above the diagonal are wider; click one to find its row</p></div>")


def render_page(summary: dict, files: dict[str, RowFiles], extras: dict[str, str]) -> str:
    """The whole page for ``summary`` (``summary.json``'s content); ``files`` by cell name;
    ``extras`` label -> relative path of library-level files (layer properties, library GDS...)."""
    rows = summary.get("cells", [])
    title = f"nbcell: {summary.get('source', '?')} → {summary.get('target', '?')}"
    head = "".join(f'<th data-type="{t}">{escape(c)}</th>' if t else f"<th>{escape(c)}</th>" for c, t in _COLUMNS)
    body = "\n".join(_row(r, files.get(r["name"], RowFiles())) for r in rows)
    statuses = "".join(f'<option value="{s}">{s}</option>' for s in STATUS_ORDER)
    extra = " · ".join(f'<a href="{quote(p)}">{escape(k)}</a>' for k, p in extras.items())
    meta = (f"policy {escape(str(summary.get('policy')))}, seed {escape(str(summary.get('seed')))}"
            + (f" · {extra}" if extra else ""))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{escape(title)}</title><style>{_CSS}</style></head>
<body><h1>{escape(title)}</h1><p class="meta">{meta}</p>
{_totals(summary)}
{_plots(rows)}
<div class="controls"><input id="filter" type="search" placeholder="filter: name, status, rule, policy, error"
 aria-label="filter cells"> <select id="status" aria-label="status"><option value="">every status</option>{statuses}
</select> <span id="shown">{len(rows)} of {len(rows)} cells</span></div>
<table id="cells"><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
<script>{_JS}</script></body></html>
"""


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#212529}
h1{font-size:1.4em;margin:0}.meta{color:#666;margin:.2em 0 1em}
.totals{display:flex;flex-wrap:wrap;gap:.5em 2em;margin:0 0 1em}.totals dt{color:#666;font-size:.85em}
.totals dd{margin:0;font-size:1.2em;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.plot{margin:0}
.plot figcaption{font-weight:600}.plot svg{font-size:10px;background:#fafafa;border:1px solid #ddd}
.plot .grid{stroke:#e9ecef}.plot .diag{stroke:#999;stroke-dasharray:4 3}.plot circle{cursor:pointer}
.legend{font-size:.9em;color:#666}.empty{width:20em;color:#666}
.st{color:#fff;border-radius:3px;padding:0 .4em;font-size:.9em}
.controls{margin:1em 0 .5em;position:sticky;top:0;background:#fff;padding:.4em 0;z-index:1}
#filter{width:28em;font-size:1em;padding:.2em .4em}
table{border-collapse:collapse}th,td{border-bottom:1px solid #e9ecef;padding:3px 6px;text-align:left;
vertical-align:top}th{background:#f1f3f5;position:sticky;top:2.6em}th[data-type]{cursor:pointer;user-select:none}
th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}
td[data-v]{font-variant-numeric:tabular-nums}.name{font-family:monospace;white-space:nowrap}
.pic img{display:block;border:1px solid #dee2e6}.noimg{width:80px;height:100px;display:flex;align-items:center;
justify-content:center;background:repeating-linear-gradient(45deg,#f8f9fa 0 6px,#e9ecef 6px 12px);color:#868e96;
font-size:.85em;border:1px dashed #adb5bd}
.rules{margin:0;padding:0;list-style:none;font-size:.85em;white-space:nowrap}.bad{color:#c92a2a;font-weight:600}
.err{max-width:28em;font-size:.85em;color:#c92a2a;word-break:break-word}.files a{margin-right:.3em}
"""

_JS = """
(function(){
const tb=document.querySelector('#cells tbody'),rows=Array.from(tb.rows);
rows.forEach((r,i)=>{r._i=i;r._t=r.textContent.toLowerCase();});
const f=document.getElementById('filter'),st=document.getElementById('status'),shown=document.getElementById('shown');
function apply(){
  const terms=f.value.toLowerCase().split(/\\s+/).filter(Boolean),s=st.value;let n=0;
  for(const r of rows){const ok=(!s||r.dataset.status===s)&&terms.every(t=>r._t.includes(t));r.hidden=!ok;if(ok)n++;}
  shown.textContent=n+' of '+rows.length+' cells';
}
f.addEventListener('input',apply);st.addEventListener('change',apply);
for(const th of document.querySelectorAll('#cells th[data-type]')){
  th.addEventListener('click',()=>{
    const i=th.cellIndex,num=th.dataset.type==='num',dir=th.classList.contains('asc')?-1:1;
    for(const h of document.querySelectorAll('#cells th'))h.classList.remove('asc','desc');
    th.classList.add(dir>0?'asc':'desc');
    const key=r=>{const v=r.cells[i].dataset.v;return v===undefined||v===''?null:(num?parseFloat(v):v);};
    const k=new Map(rows.map(r=>[r,key(r)]));
    rows.sort((a,b)=>{const x=k.get(a),y=k.get(b);
      if(x===null||y===null)return x===y?a._i-b._i:(x===null?1:-1);  // empty cells always last
      const c=num?x-y:x.localeCompare(y);return c?c*dir:a._i-b._i;});
    const frag=document.createDocumentFragment();rows.forEach(r=>frag.appendChild(r));tb.appendChild(frag);
  });
}
for(const c of document.querySelectorAll('circle[data-cell]')){
  c.addEventListener('click',()=>{f.value=c.dataset.cell;st.value='';apply();
    document.getElementById('cells').scrollIntoView();});
}
if(f.value||st.value)apply();  // the browser may restore the inputs on reload
})();
"""
