"""The in-graph rule proxy: the gridded style's design-rule conflicts, counted on the grid.

A cheap, dense stand-in for KLayout (which judges the drawn cell at the end):

* **grid spacing** — two nets on one node (a short); shapes of two nets on lines
  of one track as close as their x makes them conflict (two pads, or any two
  uses), and on the second and third metal diagonally on close tracks; second- or third-metal shapes of two nets
  on tracks of one line closer than the metal's space (on the second metal: any
  two where a wire would come too close to a pad, else two via pads);
* **via adjacency** — any two vias of one level closer than the cut space
  (lines closer than a via pitch, a contact track beside a poly-contact
  track), one net's too, and a first and a second via stacked at one node;
* **line ends** — a lone first-metal pad below the minimum area with no free
  neighbouring node (on its track, else on its line) to grow a stub onto that
  no other net's lone pad beside it may claim;
* terminals the search found no path to.

Same checks as the host router's final conflict test (:mod:`nbcell.layout.maze`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from nbcell.env.route.search import beside, nxt, prev, vias_near
from nbcell.env.route.types import NO, RouteState


class Violations(NamedTuple):
    """Rule-proxy result. Maps are bool[NL, NT] (any layer); counts int32[]."""

    spacing: jnp.ndarray
    via: jnp.ndarray
    line_end: jnp.ndarray
    failed: jnp.ndarray      # int32[] terminals without a path
    nets: jnp.ndarray        # bool[N] nets involved in any violation

    @property
    def map(self) -> jnp.ndarray:
        return self.spacing | self.via | self.line_end

    @property
    def total(self) -> jnp.ndarray:
        return (jnp.sum(self.spacing) + jnp.sum(self.via) + jnp.sum(self.line_end) + self.failed).astype(jnp.int32)


def _others_near(x: jnp.ndarray, axis: int, close_prev=None, close_next=None) -> jnp.ndarray:
    """Per net (bool[N, NL, NT]): another net holds ``x`` at a neighbour along ``axis`` (1 lines,
    2 tracks), where close."""
    tot = x.sum(0).astype(jnp.int32)
    xi = x.astype(jnp.int32)
    lo = prev(tot, axis - 1, 0)[None] - prev(xi, axis, 0)
    hi = nxt(tot, axis - 1, 0)[None] - nxt(xi, axis, 0)
    if close_prev is not None:
        lo, hi = lo * close_prev, hi * close_next
    return (lo + hi) > 0


def _others(x: jnp.ndarray, near) -> jnp.ndarray:
    """Per net (bool[N, NL, NT]): another net holds ``x`` at a node ``near`` (a neighbour sum) counts."""
    xi = x.astype(jnp.int32)
    return (near(xi.sum(0))[None] - near(xi)) > 0


def violations(s: RouteState) -> Violations:
    g = s.grid
    cnt = s.use.sum(0)                         # [3, NL, NT]
    short = jnp.any(cnt > 1, axis=0)
    # first metal: other lines' shapes where their x says (two pads, or any two uses)
    near0 = _others(s.use[:, 0], lambda x: beside(x, g.xany[0]))
    pad_sp = (s.use[:, 0] & near0) | (s.pads & _others(s.pads, lambda x: beside(x, g.xpad[0])))
    c1p, c1n = prev(g.close1w, 0, False), g.close1w
    pad_only = g.close1 & ~g.close1w
    p1p, p1n = prev(pad_only, 0, False), pad_only
    c2p, c2n = prev(g.close2, 0, False), g.close2
    pads1 = s.via1 | s.via2                    # second-metal pads: where a via lands
    m1_sp = ((s.use[:, 1] & (_others_near(s.use[:, 1], 2, c1p, c1n)
                             | _others(s.use[:, 1], lambda x: beside(x, g.xany[1], g.diag[1]))))
             | (pads1 & _others_near(pads1, 2, p1p, p1n)))
    m2_sp = s.use[:, 2] & (_others_near(s.use[:, 2], 2, c2p, c2n)
                           | _others(s.use[:, 2], lambda x: beside(x, g.xany[2], g.diag[2])))
    spacing_n = pad_sp | m1_sp | m2_sp         # [N, NL, NT]
    spacing = short | jnp.any(spacing_n, axis=0)

    # any two vias of one level closer than the cut space, one net's too; a first and a second
    # via stacked at one node
    v1, v2 = jnp.any(s.via1, 0), jnp.any(s.via2, 0)
    via = (v1 & (vias_near(v1, g.vias[0]) > 0)) | (v2 & (vias_near(v2, g.vias[1]) > 0)) | (v1 & v2)

    use0 = s.use[:, 0]
    joined = (s.e0h | prev(s.e0h, 1, False) | s.e0v | prev(s.e0v, 2, False)
              | (use0 & (prev(use0, 1, False) | nxt(use0, 1, False))))
    N = use0.shape[0]
    own_fixed = g.fixed[None] == jnp.arange(N)[:, None, None]
    lone = use0 & ~joined & ~s.drop & ~own_fixed & ~g.grow[None, None, :] & g.needs_stub
    # a free neighbouring node (on the pad's track, else on its line) takes a stub, unless another
    # net's lone pad beside that node may claim it too (the host gives stubs out one net at a
    # time: only an unshared node is sure)
    other_lone = lone.sum(0).astype(jnp.int32)[None] - lone.astype(jnp.int32)
    claimed = (prev(other_lone, 1, 0) + nxt(other_lone, 1, 0) + prev(other_lone, 2, 0) + nxt(other_lone, 2, 0)) > 0
    ok = (g.m0_ok & (cnt[0] == 0))[None] & ~near0 & ((g.fixed == NO)[None] | own_fixed) & ~claimed
    room = prev(ok, 1, False) | nxt(ok, 1, False) | prev(ok, 2, False) | nxt(ok, 2, False)
    line_end_n = lone & ~room
    line_end = jnp.any(line_end_n, 0)

    bad = spacing | via | line_end
    failed_t = s.failed & (g.term_net != NO)
    # the nets beside a cramped lone pad are part of it: moving them makes the room
    cramped = prev(line_end, 0, False) | nxt(line_end, 0, False)
    nets = (jnp.any(s.use & bad[None, None], axis=(1, 2, 3)) | jnp.any(line_end_n, axis=(1, 2))
            | jnp.any(use0 & cramped[None], axis=(1, 2))
            | jnp.zeros(N, bool).at[jnp.where(failed_t, g.term_net, N)].set(True, mode="drop"))
    return Violations(spacing, via, line_end, jnp.sum(failed_t).astype(jnp.int32), nets)


def wirelength(s: RouteState) -> jnp.ndarray:
    """Wire segments plus two per via, all nets (int32[])."""
    segs = sum(jnp.sum(x) for x in (s.e0h, s.e0v, s.e1h, s.e1v, s.e2h))
    return (segs + 2 * (jnp.sum(s.via1) + jnp.sum(s.via2))).astype(jnp.int32)
