"""The cell-layout MDP in JAX (placement and routing as pure ``reset``/``step``)."""
