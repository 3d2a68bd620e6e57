"""The agent's network: attention over the cell's fingers with edge biases (a graph transformer).

Parameters do not depend on the bucket ``F``: the same weights score 8 fingers or 64.
Dense layers and attention only, no convolutions (XLA's CPU convolutions inside
``lax.scan`` are a known slow path; nothing here hits it).

Input: one :class:`~nbcell.policies.rl.features.Features` (unbatched; ``jax.vmap`` for batches).
Output: ``logits`` float32[2F + 2] (finger ``f`` with flip ``b`` at ``2f + b``, then a gap in
the N and the P row; illegal actions at ``-1e9``) and ``value`` float32[].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

from nbcell.policies.rl.features import Features

MASKED = -1e9


@dataclass(frozen=True)
class NetConfig:
    dim: int = 32
    heads: int = 4
    layers: int = 2
    hidden: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


class EdgeAttention(nn.Module):
    """Self-attention over fingers; the logits get a learned bias per head from each edge's features.

    h: float32[F, D], pairs: float32[F, F, P], valid: bool[F] -> float32[F, D]
    """

    dim: int
    heads: int

    @nn.compact
    def __call__(self, h, pairs, valid):
        F = h.shape[0]
        dh = self.dim // self.heads
        qkv = nn.Dense(3 * self.dim, name="qkv")(h).reshape(F, 3, self.heads, dh)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]  # [F, H, dh]
        logits = jnp.einsum("ihd,jhd->hij", q, k) / jnp.sqrt(dh)
        logits = logits + nn.Dense(self.heads, name="edge")(pairs).transpose(2, 0, 1)
        logits = jnp.where(valid[None, None, :], logits, MASKED)
        att = jax.nn.softmax(logits, axis=-1)
        out = jnp.einsum("hij,jhd->ihd", att, v).reshape(F, self.dim)
        return nn.Dense(self.dim, name="out")(out)


class PlacementNet(nn.Module):
    """Graph transformer over fingers with masked categorical and value heads."""

    dim: int = 32
    heads: int = 4
    layers: int = 2
    hidden: int = 64

    @nn.compact
    def __call__(self, x: Features) -> tuple[jnp.ndarray, jnp.ndarray]:
        F = x.fingers.shape[0]
        g = nn.relu(nn.Dense(self.dim, name="glob")(x.glob))
        h = nn.Dense(self.dim, name="embed")(x.fingers) + g[None, :]
        for i in range(self.layers):
            h = h + EdgeAttention(self.dim, self.heads, name=f"att{i}")(nn.LayerNorm(name=f"ln_a{i}")(h), x.pairs,
                                                                       x.valid)
            z = nn.LayerNorm(name=f"ln_m{i}")(h)
            h = h + nn.Dense(self.dim, name=f"mlp_out{i}")(nn.relu(nn.Dense(self.hidden, name=f"mlp_in{i}")(z)))
        h = nn.LayerNorm(name="ln_f")(h)
        w = x.valid.astype(jnp.float32)[:, None]
        pooled = jnp.sum(h * w, 0) / jnp.maximum(jnp.sum(w), 1.0)
        ctx = jnp.concatenate([pooled, g])

        # each (finger, flip) action: the finger's embedding with the action's look-ahead
        fl = jnp.concatenate([jnp.broadcast_to(h[:, None, :], (F, 2, self.dim)), x.flips], -1)
        fl = nn.relu(nn.Dense(self.hidden, name="act_in")(fl))
        finger_logits = nn.Dense(1, name="act_out")(fl).reshape(2 * F)
        gp = jnp.concatenate([jnp.broadcast_to(ctx, (2, ctx.shape[0])), x.gaps, jnp.eye(2)], -1)
        gap_logits = nn.Dense(1, name="gap_out")(nn.relu(nn.Dense(self.hidden, name="gap_in")(gp))).reshape(2)
        logits = jnp.where(x.mask, jnp.concatenate([finger_logits, gap_logits]), MASKED)
        value = nn.Dense(1, name="v_out")(nn.relu(nn.Dense(self.hidden, name="v_in")(ctx)))[0]
        return logits, value


def make_net(cfg: NetConfig) -> PlacementNet:
    return PlacementNet(cfg.dim, cfg.heads, cfg.layers, cfg.hidden)
