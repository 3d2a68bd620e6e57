"""Everything that acts in :mod:`nbcell.env` behind one interface (baselines and the RL agent)."""
