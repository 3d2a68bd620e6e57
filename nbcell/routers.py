"""Routers: what routes a framed gridded cell, behind one interface, by config name.

``maze`` is the host PathFinder router (:mod:`nbcell.layout.maze`); ``env`` routes through the
routing env with its reference policy, ``rl`` with the trained routing agent (both load jax only
when first used). A router returns every net's wires or raises
:class:`~nbcell.layout.maze.MazeError` naming the lines where conflicts remained.
"""

from __future__ import annotations

from typing import Protocol

from nbcell.layout.maze import MazeError, NetWires, route_tracks
from nbcell.layout.tracks import TrackFrame


class Router(Protocol):
    name: str

    def route(self, frame: TrackFrame, seed: int, metals: int, passes: int, stall: int) -> dict[str, NetWires]:
        """Every net's wires on ``frame`` on ``metals`` routing metals (1: the first alone); ``passes`` and
        ``stall`` bound the host router's negotiation."""


class HostRouter:
    name = "maze"

    def route(self, frame: TrackFrame, seed: int, metals: int, passes: int, stall: int) -> dict[str, NetWires]:
        return route_tracks(frame, seed, passes, metals, stall)


class EnvRouter:
    """The routing env driven by its reference policy (``env``) or the trained agent (``rl``)."""

    def __init__(self, name: str):
        self.name = name

    def route(self, frame: TrackFrame, seed: int, metals: int, passes: int, stall: int) -> dict[str, NetWires]:
        from nbcell.env.route import GridTooLarge
        from nbcell.policies.route import PathFinder, route_in_env

        if self.name == "rl":
            from nbcell.policies.rl.route_agent import LearnedRouter

            policy = LearnedRouter()
        else:
            policy = PathFinder()
        try:
            return route_in_env(frame, seed, metals, policy)
        except GridTooLarge as e:
            raise MazeError(f"cell {frame.cell.name}: {e}") from e


ROUTERS = ("maze", "env", "rl")


def get_router(name: str) -> Router:
    """The router registered as ``name`` (one of :data:`ROUTERS`)."""
    if name == "maze":
        return HostRouter()
    if name in ROUTERS:
        return EnvRouter(name)
    raise ValueError(f"unknown router {name!r}; known: {', '.join(ROUTERS)}")
