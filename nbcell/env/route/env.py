"""The routing MDP: pure ``reset``/``step`` over :class:`RouteState`, jit- and vmap-able.

Nets are connected terminal by terminal. Action ``a < T`` connects terminal
``a`` to its net: the first one of a net is joined to the nearest other terminal
of the net, later ones to the net's tree (its wires so far, its rail once
reached). The path is the cheapest under negotiated-congestion costs
(:mod:`nbcell.env.route.search`); other nets' wires make a node dearer, not
forbidden. Once every terminal is done, action ``T + n`` rips net ``n`` up and
reroutes it (PathFinder's rip-up and reroute, one net per step), with the
history cost raised where the rule proxy finds violations. The episode is over
when every terminal is connected and the proxy counts no violation.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from nbcell.env.route.proxy import violations, wirelength
from nbcell.env.route.reward import potential
from nbcell.env.route.search import cheapest_pad, costs, nxt, prev, search
from nbcell.env.route.types import NO, Grid, RouteObservation, RouteState

#: present-congestion factor at the start and its growth per round of reroutes (one per net)
PRES0, PRES_GROWTH = 0.6, 1.6
#: ... and its cap: costs must stay far below the search's ``BIG`` (unreachable) on any path
PRES_MAX = 100.0
#: reroutes that make one round (fewer when the cell has fewer nets): only nets in violation are
#: rerouted, so a round of every net would grow the costs too slowly
ROUND_NETS = 3
#: history cost added around a violation per round of reroutes
HIST_STEP = 0.5


class RouteStep(NamedTuple):
    observation: RouteObservation
    reward: jnp.ndarray  # float32[]
    done: jnp.ndarray    # bool[]


def num_actions(grid: Grid) -> int:
    """Connect each terminal, reroute each net."""
    return 2 * grid.terminals


def reset(grid: Grid) -> tuple[RouteState, RouteStep]:
    """No wires yet."""
    NL, NT = grid.shape
    T = grid.terminals
    z = jnp.zeros((T, NL, NT), bool)
    state = RouteState(grid=grid, use=jnp.zeros((T, 3, NL, NT), bool), pads=z, contacts=z, e0h=z, e0v=z, e1h=z,
                       e1v=z, e2h=z, via1=z, via2=z, drop=z, done=grid.term_net == NO, failed=jnp.zeros(T, bool),
                       hist=jnp.zeros((3, NL, NT), jnp.float32), reroutes=jnp.zeros(T, jnp.int32), steps=jnp.int32(0),
                       bad=jnp.zeros((NL, NT), bool), bad_nets=jnp.zeros(T, bool), n_bad=jnp.int32(0))
    state = refresh(state)
    return state, RouteStep(observe(state), jnp.float32(0.0), finished(state))


def refresh(state: RouteState) -> RouteState:
    """Recount the rule proxy's violations into the state."""
    v = violations(state)
    return state.replace(bad=v.map, bad_nets=v.nets, n_bad=v.total)


def pres(state: RouteState) -> jnp.ndarray:
    """Present-congestion factor: grows by :data:`PRES_GROWTH` per round of reroutes, up to :data:`PRES_MAX`."""
    rounds = jnp.sum(state.reroutes) / jnp.clip(state.grid.n_nets, 1, ROUND_NETS)
    return jnp.minimum(PRES0 * PRES_GROWTH ** rounds, PRES_MAX).astype(jnp.float32)


def finished(state: RouteState) -> jnp.ndarray:
    return jnp.all(state.done) & (state.n_bad == 0)


def action_mask(state: RouteState) -> jnp.ndarray:
    """bool[2T]: connect a terminal not done; once all are, reroute a net the rule proxy involves
    (in a violation, or beside a lone pad that has no room for its stub)."""
    g = state.grid
    connect = ~state.done
    net_ok = jnp.arange(g.terminals) < g.n_nets
    reroute = jnp.all(state.done) & state.bad_nets & net_ok & (state.n_bad > 0)
    return jnp.concatenate([connect, reroute])


def _connect(state: RouteState, a: jnp.ndarray) -> RouteState:
    """Connect terminal ``a`` (see the module docstring)."""
    g = state.grid
    T = g.terminals
    NL, NT = g.shape
    n = g.term_net[a]
    p = pres(state)
    own = g.term_mask[a] & ~g.term_rail[a]
    is_rail = g.term_rail[a]
    same = (g.term_net == n) & (jnp.arange(T) != a)
    pend = same & ~state.done
    pend_nodes = jnp.any(g.term_mask & (pend & ~g.term_rail)[:, None, None], axis=0)
    pend_rail = jnp.any(pend & g.term_rail)
    tree = state.use[n]
    tree_rail = jnp.any(state.drop[n])
    started = jnp.any(tree) | tree_rail
    alone = ~started & ~jnp.any(pend_nodes) & ~pend_rail
    z = jnp.zeros((NL, NT), bool)
    src = jnp.where(started, tree, jnp.stack([own, z, z]))
    src_rail = jnp.where(started, tree_rail, is_rail)
    tgt0 = jnp.where(started, own, pend_nodes)
    tgt_rail = jnp.where(started, is_rail, pend_rail)
    c = costs(state, g, n, p, tgt0)
    f = search(c, g, n, src, src_rail, tgt0, tgt_rail)
    path = f.path
    # a single-terminal net (a pin on one diffusion or gate): its least crowded node alone
    k = cheapest_pad(c, g, n, own)
    lone = z.at[k // NT, k % NT].set(True)
    routed = f.ok & ~alone
    on = jnp.where(alone, jnp.stack([lone, z, z]), jnp.where(routed, path.on, False))
    keep = lambda x: jnp.where(routed, x, False)  # noqa: E731
    contacts = jnp.where(routed & ~f.to_rail, z.at[f.end[0], f.end[1]].set(True), z)
    st = path.start
    first = routed & ~started & (st[1] != NO)
    contacts = contacts | jnp.where(first, z.at[jnp.maximum(st[1], 0), jnp.maximum(st[2], 0)].set(True), z)
    # a path over a pending terminal of its own net contacts it on the way
    contacts = contacts | (keep(path.on[0]) & pend_nodes) | jnp.where(alone, lone, z)
    s = state.replace(
        use=state.use.at[n].set(tree | on),
        e0h=state.e0h.at[n].set(state.e0h[n] | keep(path.eh[0])),
        e1h=state.e1h.at[n].set(state.e1h[n] | keep(path.eh[1])),
        e2h=state.e2h.at[n].set(state.e2h[n] | keep(path.eh[2])),
        e0v=state.e0v.at[n].set(state.e0v[n] | keep(path.ev[0])),
        e1v=state.e1v.at[n].set(state.e1v[n] | keep(path.ev[1])),
        via1=state.via1.at[n].set(state.via1[n] | keep(path.via1)),
        via2=state.via2.at[n].set(state.via2[n] | keep(path.via2)),
        drop=state.drop.at[n].set(state.drop[n] | keep(path.drop)),
        contacts=state.contacts.at[n].set(state.contacts[n] | contacts),
    )
    s = s.replace(pads=s.pads.at[n].set(s.contacts[n] | s.via1[n]))
    reached = (jnp.any(g.term_mask & s.contacts[n][None], axis=(1, 2))
               | (g.term_rail & jnp.any(s.drop[n])))
    mine = g.term_net == n
    failed = ~routed & ~alone
    return s.replace(done=s.done | (mine & reached) | ((jnp.arange(T) == a) & failed),
                     failed=s.failed.at[a].set(s.failed[a] | failed))


def _rip(state: RouteState, n: jnp.ndarray) -> RouteState:
    """Remove net ``n``'s wires; its terminals are pending again."""
    g = state.grid
    clear = lambda x: x.at[n].set(False)  # noqa: E731
    b = state.bad
    near = b | prev(b, 0, False) | nxt(b, 0, False) | prev(b, 1, False) | nxt(b, 1, False)
    bump = HIST_STEP * near.astype(jnp.float32) / jnp.clip(g.n_nets, 1, ROUND_NETS).astype(jnp.float32)
    mine = g.term_net == n
    return state.replace(use=clear(state.use), pads=clear(state.pads), contacts=clear(state.contacts),
                         e0h=clear(state.e0h), e0v=clear(state.e0v), e1h=clear(state.e1h), e1v=clear(state.e1v),
                         e2h=clear(state.e2h), via1=clear(state.via1), via2=clear(state.via2),
                         drop=clear(state.drop), done=state.done & ~mine, failed=state.failed & ~mine,
                         hist=state.hist + bump[None], reroutes=state.reroutes.at[n].add(1))


def _next_pending(state: RouteState, n: jnp.ndarray) -> jnp.ndarray:
    """The pending terminal of net ``n`` first in the reference order."""
    g = state.grid
    pend = (g.term_net == n) & ~state.done
    return jnp.argmin(jnp.where(pend, g.order, jnp.iinfo(jnp.int32).max))


def step(state: RouteState, action: jnp.ndarray) -> tuple[RouteState, RouteStep]:
    """Apply ``action`` (see :func:`action_mask`); an illegal or out-of-range action is a no-op."""
    g = state.grid
    T = g.terminals
    A = 2 * T
    legal = (action >= 0) & (action < A) & action_mask(state)[jnp.clip(action, 0, A - 1)]
    is_reroute = action >= T
    n = jnp.where(is_reroute, jnp.clip(action - T, 0, T - 1), g.term_net[jnp.clip(action, 0, T - 1)])
    s0 = jax.lax.cond(legal & is_reroute, _rip, lambda s, _: s, state, n)
    first = jnp.where(is_reroute, _next_pending(s0, n), jnp.clip(action, 0, T - 1))
    limit = jnp.where(legal, jnp.where(is_reroute, g.net_terms[jnp.maximum(n, 0)], 1), 0)

    def cond(cy):
        s, i = cy
        return (i < limit) & jnp.any((g.term_net == n) & ~s.done)

    def body(cy):
        s, i = cy
        a = jnp.where(i == 0, first, _next_pending(s, n))
        return _connect(s, a), i + 1

    nxt_state, _ = jax.lax.while_loop(cond, body, (s0, jnp.int32(0)))
    nxt_state = refresh(nxt_state.replace(steps=state.steps + legal.astype(jnp.int32)))
    reward = jnp.where(legal, potential(state) - potential(nxt_state), 0.0).astype(jnp.float32)
    return nxt_state, RouteStep(observe(nxt_state), reward, finished(nxt_state))


def observe(state: RouteState) -> RouteObservation:
    g = state.grid
    T = g.terminals
    NL, NT = g.shape
    anyuse = jnp.any(state.use, axis=0).astype(jnp.float32)      # [3, NL, NT]
    pending = jnp.any(g.term_mask & ~state.done[:, None, None], axis=0)
    f = lambda x: x.astype(jnp.float32)  # noqa: E731
    grid = jnp.stack([anyuse[0], anyuse[1], anyuse[2], f(jnp.any(state.pads, 0)), f(g.fixed != NO), f(state.bad),
                      f(g.m0_ok), f(g.m1_ok), f(g.m2_ok), f(pending), state.hist[0],
                      state.use[:, 0].sum(0).astype(jnp.float32) / 4.0], axis=-1)
    cnt = jnp.maximum(jnp.sum(g.term_mask, axis=(1, 2)), 1).astype(jnp.float32)
    lines = jnp.arange(NL, dtype=jnp.float32)[:, None] / NL
    tracks = jnp.arange(NT, dtype=jnp.float32)[None, :] / NT
    ml = jnp.sum(g.term_mask * lines[None], axis=(1, 2)) / cnt
    mt = jnp.sum(g.term_mask * tracks[None], axis=(1, 2)) / cnt
    valid = g.term_net != NO
    terms = jnp.stack([f(valid), f(state.done), f(state.failed), f(g.term_rail), f(g.term_net) / T, ml, mt], axis=-1)
    net_valid = jnp.arange(T) < g.n_nets
    nets = jnp.stack([f(net_valid), f(state.bad_nets), f(state.reroutes) / 4.0, f(g.net_terms) / 8.0], axis=-1)
    return RouteObservation(grid, terms, nets, f(state.n_bad), f(wirelength(state)), action_mask(state))
