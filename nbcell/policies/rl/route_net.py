"""The routing agent's network: a small convolutional encoder over the routing grid, terminal and
net embeddings pooled from it, masked categorical logits over the routing env's ``2T`` actions and
a value head (issue #5).

Parameters do not depend on the bucket: the same weights score a 16-line grid or a 32-line one.
The 3x3 convolutions are written as nine shifted copies of the grid (``jnp.pad`` + slicing)
concatenated on the channel axis and one ``Dense``: no ``lax.conv`` (XLA's CPU convolutions
inside ``lax.scan``/``while_loop`` are a known slow path).

Input (unbatched; ``jax.vmap`` for batches): one :class:`~nbcell.env.route.RouteObservation` and
the problem's :class:`~nbcell.env.route.Grid` (its ``term_mask``, ``term_net``, ``order``, counts).
Output: ``logits`` float32[2T] (connect terminal ``a`` at ``a``, reroute net ``n`` at ``T + n``;
illegal actions at exactly ``-1e9``) and ``value`` float32[].

Besides the observation the network sees a few parameter-free features of the reference order
(:func:`order_features`): each terminal's rank in the problem's reference order, whether it is the
first pending one, each net's rank among the nets a reroute may pick (fewest reroutes, then net
id). They are what the reference policy decides on, so behaviour cloning starts from a network
that can represent it; PPO may learn to deviate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

from nbcell.env.route.types import NO, Grid, RouteObservation

MASKED = -1e9
_BIG = 2 ** 30


@dataclass(frozen=True)
class RouteNetConfig:
    channels: int = 24   #: grid encoder channels
    convs: int = 3       #: 3x3 convolution layers
    dim: int = 48        #: terminal / net / context embedding width
    hidden: int = 64     #: MLP hidden width of the heads

    def to_dict(self) -> dict:
        return asdict(self)


def shifted3x3(x: jnp.ndarray) -> jnp.ndarray:
    """float32[NL, NT, C] -> float32[NL, NT, 9C]: the 3x3 neighbourhood of every node (zero
    outside the grid) stacked on the channel axis (the im2col of a 3x3 convolution)."""
    NL, NT, _ = x.shape
    p = jnp.pad(x, ((1, 1), (1, 1), (0, 0)))
    return jnp.concatenate([p[i:i + NL, j:j + NT] for i in range(3) for j in range(3)], axis=-1)


class Conv3x3(nn.Module):
    """A 3x3 "same" convolution as shifted copies + ``Dense``: float32[NL, NT, C] -> [NL, NT, features]."""

    features: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.features, name="kernel")(shifted3x3(x))


def order_features(obs: RouteObservation, grid: Grid) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Parameter-free features of the reference order.

    Returns ``term_x`` float32[T, 3] (rank in the reference order / T, rank among pending terminals
    / T, first pending in the reference order), ``net_x`` float32[N, 3] (net id / N, rank among
    the reroutable nets by (reroutes, id) / N, first of them) and ``glob`` float32[5] (violations
    / 8, wirelength / (NL NT), share of terminals pending, all connected, reroutes so far / T).
    """
    T = grid.terminals
    NL, NT = grid.shape
    mask = obs.action_mask
    valid = grid.term_net != NO
    f = lambda x: x.astype(jnp.float32)  # noqa: E731
    key = jnp.where(valid, grid.order, _BIG)
    rank = jnp.argsort(jnp.argsort(key))
    pkey = jnp.where(mask[:T], grid.order, _BIG)
    prank = jnp.argsort(jnp.argsort(pkey))
    first = (prank == 0) & mask[:T]
    term_x = jnp.stack([f(rank) / T, jnp.where(mask[:T], f(prank) / T, 1.0), f(first)], -1)
    reroutes = jnp.round(obs.nets[:, 2] * 4.0).astype(jnp.int32)
    rkey = jnp.where(mask[T:], reroutes * 4096 + jnp.arange(T), _BIG)
    rrank = jnp.argsort(jnp.argsort(rkey))
    rfirst = (rrank == 0) & mask[T:]
    net_x = jnp.stack([jnp.arange(T, dtype=jnp.float32) / T, jnp.where(mask[T:], f(rrank) / T, 1.0), f(rfirst)], -1)
    pending = jnp.sum(mask[:T]) / jnp.maximum(grid.n_terms, 1)
    glob = jnp.stack([obs.violations / 8.0, obs.wirelength / (NL * NT), f(pending), f(~jnp.any(mask[:T])),
                      jnp.sum(obs.nets[:, 2]) * 4.0 / T])
    return term_x, net_x, glob


class RouteNet(nn.Module):
    """Grid encoder + terminal / net embeddings + masked policy and value heads (see module docstring)."""

    channels: int = 24
    convs: int = 3
    dim: int = 48
    hidden: int = 64

    @nn.compact
    def __call__(self, obs: RouteObservation, grid: Grid) -> tuple[jnp.ndarray, jnp.ndarray]:
        T = grid.terminals
        NL, NT = grid.shape
        # --- grid encoder: [NL, NT, 12 + 2 coordinates] -> [NL, NT, C]
        lines = jnp.broadcast_to((jnp.arange(NL, dtype=jnp.float32) / NL)[:, None], (NL, NT))
        tracks = jnp.broadcast_to((jnp.arange(NT, dtype=jnp.float32) / NT)[None, :], (NL, NT))
        x = jnp.concatenate([obs.grid, lines[..., None], tracks[..., None]], -1)
        h = nn.relu(nn.Dense(self.channels, name="stem")(x))
        for i in range(self.convs):
            h = h + nn.relu(Conv3x3(self.channels, name=f"conv{i}")(h))
        h = nn.LayerNorm(name="ln_grid")(h)
        node_ok = (grid.m0_ok | grid.m1_ok).astype(jnp.float32)                 # [NL, NT]
        grid_pool = jnp.einsum("lk,lkc->c", node_ok, h) / jnp.maximum(jnp.sum(node_ok), 1.0)

        term_x, net_x, glob = order_features(obs, grid)
        g = nn.relu(nn.Dense(self.dim, name="glob")(jnp.concatenate([glob, grid_pool])))     # [D]

        # --- terminals: own features + mean grid encoding over the terminal's nodes -> [T, D]
        tm = grid.term_mask.astype(jnp.float32)                                  # [T, NL, NT]
        t_pool = jnp.einsum("tlk,lkc->tc", tm, h) / jnp.maximum(jnp.sum(tm, (1, 2)), 1.0)[:, None]
        t_in = jnp.concatenate([obs.terminals, term_x, t_pool], -1)
        te = nn.Dense(self.dim, name="t_in")(t_in) + g[None]
        te = te + nn.Dense(self.dim, name="t_mlp")(nn.relu(nn.LayerNorm(name="ln_t")(te)))
        valid = (grid.term_net != NO).astype(jnp.float32)                       # [T]

        # --- nets: own features + mean of their terminals' embeddings -> [N, D]
        member = (grid.term_net[:, None] == jnp.arange(T)[None, :]).astype(jnp.float32)  # [T, N]
        n_pool = jnp.einsum("tn,td->nd", member, te) / jnp.maximum(jnp.sum(member, 0), 1.0)[:, None]
        ne = nn.Dense(self.dim, name="n_in")(jnp.concatenate([obs.nets, net_x, n_pool], -1)) + g[None]
        ne = ne + nn.Dense(self.dim, name="n_mlp")(nn.relu(nn.LayerNorm(name="ln_n")(ne)))
        net_ok = (jnp.arange(T) < grid.n_nets).astype(jnp.float32)

        # --- pooled context
        t_mean = jnp.sum(te * valid[:, None], 0) / jnp.maximum(jnp.sum(valid), 1.0)
        n_mean = jnp.sum(ne * net_ok[:, None], 0) / jnp.maximum(jnp.sum(net_ok), 1.0)
        ctx = nn.relu(nn.Dense(self.dim, name="ctx")(jnp.concatenate([g, t_mean, n_mean])))  # [D]

        def head(e, name):
            z = jnp.concatenate([e, jnp.broadcast_to(ctx, (e.shape[0], ctx.shape[0]))], -1)
            return nn.Dense(1, name=f"{name}_out")(nn.relu(nn.Dense(self.hidden, name=f"{name}_in")(z)))[:, 0]

        logits = jnp.concatenate([head(te, "connect"), head(ne, "reroute")])
        logits = jnp.where(obs.action_mask, logits, MASKED)
        value = nn.Dense(1, name="v_out")(nn.relu(nn.Dense(self.hidden, name="v_in")(ctx)))[0]
        return logits, value


def make_route_net(cfg: RouteNetConfig) -> RouteNet:
    return RouteNet(cfg.channels, cfg.convs, cfg.dim, cfg.hidden)


def init_route_params(cfg: RouteNetConfig, grid: Grid, seed: int = 0, abstract: bool = False) -> dict:
    """Parameters of a fresh network from one example ``grid`` (unbatched; their shapes do not
    depend on its bucket); ``abstract``: only shapes and dtypes."""
    from nbcell.env import route as renv

    def init(key, grid):
        _, ts = renv.reset(grid)
        return make_route_net(cfg).init(key, ts.observation, grid)

    key = jax.random.PRNGKey(seed)
    return jax.eval_shape(init, key, grid) if abstract else jax.jit(init)(key, grid)


def param_count(params) -> int:
    return int(sum(x.size for x in jax.tree.leaves(params)))
