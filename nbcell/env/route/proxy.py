"""The in-graph rule proxy: the gridded style's design-rule conflicts, counted on the grid.

A cheap, dense stand-in for KLayout (which judges the drawn cell at the end):

* **grid spacing** — two nets on one node (a short); first-metal pads of two nets
  on neighbouring lines of one track; second- or third-metal shapes of two nets
  on tracks of one line closer than the metal's space (on the second metal: any
  two where a wire would come too close to a pad, else two via pads);
* **via adjacency** — first vias of two nets closer than the cut space on
  neighbouring lines (never, on a pitch the frame chose from the rules, but
  counted all the same), any two first vias on close tracks of one line (a
  contact track beside a poly-contact track), and a first and a second via
  stacked at one node;
* **line ends** — a lone first-metal pad below the minimum area with no free
  neighbouring line to grow a stub onto that no other net's lone pad may claim;
* terminals the search found no path to.

Same checks as the host router's final conflict test (:mod:`nbcell.layout.maze`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from nbcell.env.route.search import nxt, prev
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


def _close_pairs(v: jnp.ndarray, close: jnp.ndarray) -> jnp.ndarray:
    """bool[NL, NT]: ``v`` also holds on a track of the same line that ``close`` (bool[NT]: tracks t
    and t + 1) marks as too close."""
    return v & ((prev(v, 1, False) & prev(close, 0, False)[None]) | (nxt(v, 1, False) & close[None]))


def _others_diagonal(x: jnp.ndarray, close_prev, close_next) -> jnp.ndarray:
    """Per net (bool[N, NL, NT]): another net holds ``x`` on a neighbouring line of a close track."""
    xi = x.astype(jnp.int32)
    tot = xi.sum(0)
    out = jnp.zeros_like(xi)
    for shift_t, close in ((prev, close_prev), (nxt, close_next)):
        for shift_l in (prev, nxt):
            other = shift_l(shift_t(tot, 1, 0), 0, 0)[None] - shift_l(shift_t(xi, 2, 0), 1, 0)
            out = out + other * close
    return out > 0


def violations(s: RouteState) -> Violations:
    g = s.grid
    cnt = s.use.sum(0)                         # [3, NL, NT]
    short = jnp.any(cnt > 1, axis=0)
    pad_sp = s.pads & _others_near(s.pads, 1)
    c1p, c1n = prev(g.close1w, 0, False), g.close1w
    pad_only = g.close1 & ~g.close1w
    p1p, p1n = prev(pad_only, 0, False), pad_only
    c2p, c2n = prev(g.close2, 0, False), g.close2
    pads1 = s.via1 | s.via2                    # second-metal pads: where a via lands
    m1_sp = (s.use[:, 1] & _others_near(s.use[:, 1], 2, c1p, c1n)) | (pads1 & _others_near(pads1, 2, p1p, p1n))
    m2_sp = s.use[:, 2] & (_others_near(s.use[:, 2], 2, c2p, c2n)
                           | ((_others_near(s.use[:, 2], 1) | _others_diagonal(s.use[:, 2], c2p, c2n)) & g.close2x))
    spacing_n = pad_sp | m1_sp | m2_sp         # [N, NL, NT]
    spacing = short | jnp.any(spacing_n, axis=0)

    via_n = s.via1 & (_others_near(s.via1, 1) & g.via_close_line)
    # on close tracks of one line any two vias of one level are too close, one net's too
    v1, v2 = jnp.any(s.via1, 0), jnp.any(s.via2, 0)
    via_tracks = _close_pairs(v1, g.via_close_track) | _close_pairs(v2, g.via2_close_track)
    stacked = v1 & v2
    via = jnp.any(via_n, 0) | via_tracks | stacked

    use0 = s.use[:, 0]
    joined = (s.e0h | prev(s.e0h, 1, False) | s.e0v | prev(s.e0v, 2, False)
              | (use0 & (prev(use0, 1, False) | nxt(use0, 1, False))))
    N = use0.shape[0]
    own_fixed = g.fixed[None] == jnp.arange(N)[:, None, None]
    lone = use0 & ~joined & ~s.drop & ~own_fixed & ~g.grow[None, None, :] & g.needs_stub
    # a free neighbouring line takes a stub, unless another net's lone pad on its far side may
    # claim it too (the host gives stubs out one net at a time: only an unshared node is sure)
    free = g.m0_ok & (cnt[0] == 0)
    other_lone = lone.sum(0).astype(jnp.int32)[None] - lone.astype(jnp.int32)
    room_of = lambda f: f & ((g.fixed == NO)[None] | own_fixed)  # noqa: E731
    left = room_of(prev(free, 0, False)[None]) & ~(prev(prev(other_lone, 1, 0), 1, 0) > 0)
    right = room_of(nxt(free, 0, False)[None]) & ~(nxt(nxt(other_lone, 1, 0), 1, 0) > 0)
    line_end_n = lone & ~(left | right)
    line_end = jnp.any(line_end_n, 0)

    bad = spacing | via | line_end
    failed_t = s.failed & (g.term_net != NO)
    # the nets beside a cramped lone pad are part of it: moving them makes the room
    beside = prev(line_end, 0, False) | nxt(line_end, 0, False)
    nets = (jnp.any(s.use & bad[None, None], axis=(1, 2, 3)) | jnp.any(line_end_n, axis=(1, 2))
            | jnp.any(use0 & beside[None], axis=(1, 2))
            | jnp.zeros(N, bool).at[jnp.where(failed_t, g.term_net, N)].set(True, mode="drop"))
    return Violations(spacing, via, line_end, jnp.sum(failed_t).astype(jnp.int32), nets)


def wirelength(s: RouteState) -> jnp.ndarray:
    """Wire segments plus two per via, all nets (int32[])."""
    segs = sum(jnp.sum(x) for x in (s.e0h, s.e0v, s.e1h, s.e1v, s.e2h))
    return (segs + 2 * (jnp.sum(s.via1) + jnp.sum(s.via2))).astype(jnp.int32)
