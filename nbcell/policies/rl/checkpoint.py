"""Orbax checkpoints of the agent: ``DIR/<step>/{params, opt_state, meta}``.

``params`` and ``opt_state`` are array pytrees (``StandardSave``); ``meta`` is JSON: the network
and PPO configs, the iteration, the PRNG key, the training sets. Training keeps the last few
steps and resumes from the newest; :func:`export` writes a params-only checkpoint (what the
package ships in ``nbcell/policies/rl/trained``) that :func:`restore` reads without
writing anything (the installed package may be read-only).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

logging.getLogger("absl").setLevel(logging.ERROR)  # orbax narrates every read-only open


def _abstract(tree):
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def manager(directory: Path, read_only: bool = False, keep: int = 2) -> ocp.CheckpointManager:
    opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only, read_only=read_only,
                                        enable_async_checkpointing=False)
    return ocp.CheckpointManager(Path(directory).absolute(), options=opts)


def latest_step(directory: Path) -> int | None:
    """The newest complete step under ``directory`` (None when there is none)."""
    if not Path(directory).is_dir():
        return None
    with manager(directory, read_only=True) as m:
        return m.latest_step()


def save(directory: Path, step: int, params, meta: dict, opt_state=None, keep: int = 2) -> None:
    items = {"params": ocp.args.StandardSave(params), "meta": ocp.args.JsonSave(meta)}
    if opt_state is not None:
        items["opt_state"] = ocp.args.StandardSave(opt_state)
    with manager(directory, keep=keep) as m:
        if step in m.all_steps():
            m.delete(step)
        m.save(step, args=ocp.args.Composite(**items), force=True)
        m.wait_until_finished()


def restore_meta(directory: Path, step: int | None = None) -> dict:
    with manager(directory, read_only=True) as m:
        step = m.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint under {directory}")
        return dict(m.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta)


def restore(directory: Path, params_like, opt_like=None, step: int | None = None):
    """(params, opt_state or None, meta) of ``step`` (default: newest); ``*_like`` give the structure."""
    with manager(directory, read_only=True) as m:
        step = m.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint under {directory}")
        items = {"params": ocp.args.StandardRestore(_abstract(params_like)), "meta": ocp.args.JsonRestore()}
        if opt_like is not None:
            items["opt_state"] = ocp.args.StandardRestore(_abstract(opt_like))
        got = m.restore(step, args=ocp.args.Composite(**items))
    opt = _fresh(got.opt_state) if opt_like is not None else None
    return _fresh(got.params), opt, dict(got.meta)


def load_params(directory: Path, like_of, missing: type[Exception] = FileNotFoundError):
    """(network config, params, meta) of the newest checkpoint in ``directory``; ``like_of(meta)``
    gives the network config and the abstract params to restore into. Raises ``missing`` when there
    is no checkpoint."""
    if latest_step(directory) is None:
        raise missing(f"no checkpoint at {directory}")
    cfg, like = like_of(restore_meta(directory))
    params, _, meta = restore(directory, like)
    return cfg, params, meta


def _fresh(tree):
    """Restored arrays come committed to a device, which makes every jitted function that takes
    them compile again; plain uncommitted copies hit the compiled code of a fresh state."""
    return jax.tree.map(lambda x: jnp.asarray(np.asarray(x)), tree)


def export(directory: Path, params, meta: dict) -> None:
    """A fresh params-only checkpoint (step 0) at ``directory``, replacing what was there."""
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    save(directory, 0, params, meta, keep=1)


def size_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file())
