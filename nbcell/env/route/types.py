"""Pytrees of the routing environment: the framed cell's grid, the state, the observation.

The grid is the gridded style's (:class:`~nbcell.layout.tracks.TrackFrame`):
``L = 3`` metal layers (first metal along tracks and across them over the
diffusion, second metal along lines and tracks, third metal along tracks; with
local interconnect they are li1, met1 and met2, joined by mcon and via),
``NL`` vertical lines, ``NT`` horizontal tracks. Shapes use ``T`` terminals,
and ``N = T`` nets, all padded to the bucket. A grid node of one layer is
``line * NT + track``. Nets are small integers; ``-1`` is none.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import struct

NO = -1
LAYERS = 3


@struct.dataclass
class Grid:
    """One framed cell, padded to its bucket (everything the search and the rule proxy need).

    m0_ok, m1_ok, m2_ok: bool[NL, NT] where each metal may run (the second metal not beside a rail drawn
                 on it, the third only when allowed)
    fixed:       int32[NL, NT]  first-metal node owned by a supply's rail strip (net id) or ``NO``
    close1:      bool[NT]       second-metal pads (via landings) of two nets on tracks t and t + 1 of one line
                                are too close
    close1w:     bool[NT]       the same for a pad and a plain wire (then any two uses are)
    close2:      bool[NT]       the same for the third metal
    xany, xpad:  bool[3, K, NL] per metal, shapes of two nets on lines c and c + k + 1 of one track conflict
                                for any two uses / for two pads (``TrackFrame.x_class``)
    diag:        bool[3, K, NL, NT] per metal, pads of two nets at (c, t) and (c + k + 1, t + 1), or at (c, t + 1)
                                and (c + k + 1, t), are too close
    grow:        bool[NT]       a lone first-metal pad on this track may grow towards its rail (no stub needed)
    term_net:    int32[T]       net of each terminal (``NO`` on padding)
    term_mask:   bool[T, NL, NT] first-metal nodes where the terminal may be contacted
    term_rail:   bool[T]        the terminal is the net's rail (reached by a drop from the outermost track)
    net_rail:    int32[N]       track a net's rail is dropped to from (``NO``: the net has no rail)
    net_terms:   int32[N]       terminals per net
    order:       int32[T]       rank of each terminal in the reference order (nets with most terminals first)
    needs_stub:  bool[]         a single first-metal pad is below the minimum area
    vias:        bool[2, K + 1, 3, NL, NT] per via level, vias of any nets at (c, t) and (c + k, t + dt),
                                dt = -1, 0, 1 by the third index, are closer than the cut space
    n_terms, n_nets: int32[]
    """

    m0_ok: jnp.ndarray
    m1_ok: jnp.ndarray
    m2_ok: jnp.ndarray
    fixed: jnp.ndarray
    close1: jnp.ndarray
    close1w: jnp.ndarray
    close2: jnp.ndarray
    xany: jnp.ndarray
    xpad: jnp.ndarray
    diag: jnp.ndarray
    grow: jnp.ndarray
    term_net: jnp.ndarray
    term_mask: jnp.ndarray
    term_rail: jnp.ndarray
    net_rail: jnp.ndarray
    net_terms: jnp.ndarray
    order: jnp.ndarray
    needs_stub: jnp.ndarray
    vias: jnp.ndarray
    n_terms: jnp.ndarray
    n_nets: jnp.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(NL, NT), static."""
        return self.m0_ok.shape[-2], self.m0_ok.shape[-1]

    @property
    def terminals(self) -> int:
        """T, static."""
        return self.term_net.shape[-1]


@struct.dataclass
class RouteState:
    """Wires so far, per net (``N`` nets, on the ``NL × NT`` grid).

    use:      bool[N, L, NL, NT] nodes each net occupies per layer
    pads:     bool[N, NL, NT]    first-metal nodes under a contact or a first via (full pads)
    contacts: bool[N, NL, NT]    where a terminal is contacted
    e0h, e0v: bool[N, NL, NT]    first-metal wire from (c, t) to (c + 1, t) / to (c, t + 1)
    e1h, e1v: bool[N, NL, NT]    second-metal wires, the same
    e2h:      bool[N, NL, NT]    third-metal wire from (c, t) to (c + 1, t)
    via1, via2: bool[N, NL, NT]  vias first-second / second-third metal at (c, t)
    drop:     bool[N, NL, NT]    first-metal drop from (c, t) into the net's rail
    done:     bool[T]            terminal connected to its net (or given up, see ``failed``)
    failed:   bool[T]            no path existed when it was connected
    hist:     float32[L, NL, NT] negotiated-congestion history cost
    reroutes: int32[N]           rip-ups per net
    steps:    int32[]
    bad:      bool[NL, NT]       rule-proxy violations (kept from the last step: computed once per step)
    bad_nets: bool[N]            nets involved in one
    n_bad:    int32[]            violations in all (:attr:`nbcell.env.route.proxy.Violations.total`)
    """

    grid: Grid
    use: jnp.ndarray
    pads: jnp.ndarray
    contacts: jnp.ndarray
    e0h: jnp.ndarray
    e0v: jnp.ndarray
    e1h: jnp.ndarray
    e1v: jnp.ndarray
    e2h: jnp.ndarray
    via1: jnp.ndarray
    via2: jnp.ndarray
    drop: jnp.ndarray
    done: jnp.ndarray
    failed: jnp.ndarray
    hist: jnp.ndarray
    reroutes: jnp.ndarray
    steps: jnp.ndarray
    bad: jnp.ndarray
    bad_nets: jnp.ndarray
    n_bad: jnp.ndarray


@struct.dataclass
class RouteObservation:
    """What a routing policy sees.

    grid:        float32[NL, NT, 12] per node: use per layer (any net), pads, fixed, violations, metal
                 allowed per layer, terminal nodes pending, history, and the first layer's user count
    terminals:   float32[T, 7] per terminal: valid, done, failed, rail, net (scaled), mean line and track (scaled)
    nets:        float32[N, 4] per net: valid, in violation, reroutes, terminals (scaled)
    violations:  float32[]     rule-proxy violations (see :mod:`nbcell.env.route.proxy`)
    wirelength:  float32[]     wire segments plus vias
    action_mask: bool[T + N]   connect terminal a at a; rip up and reroute net n at T + n
    """

    grid: jnp.ndarray
    terminals: jnp.ndarray
    nets: jnp.ndarray
    violations: jnp.ndarray
    wirelength: jnp.ndarray
    action_mask: jnp.ndarray
