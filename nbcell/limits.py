"""Every numeric limit on input, in one place: what a netlist, a process file or the command line
may ask for before nbcell refuses it with a clear error (file, line, the limit's name and value).

The limits sit far above anything in the real libraries (largest file 1.3 MB, longest logical
line 1,439 characters, longest cell name 49 characters, W 0.027..5 µm, L 0.02..7.85 µm, nf and m
at most 1, at most 320 fingers after sizing but for ``sky130_fd_sc_hdll__tap``, a test array of
7,150 transistors) and far below what would make a cell take hours or a name a broken path.
"""

from __future__ import annotations

#: netlist reader
MAX_NETLIST_BYTES = 64 * 2**20      # one netlist file (bytes)
MAX_LINE_CHARS = 100_000            # one logical line, continuations joined (characters)
MAX_NAME_CHARS = 255                # a cell, pin, net, device or model name (characters)
MAX_DEPTH = 32                      # subcircuit calls nested in one cell
MAX_CELL_DEVICES = 10_000           # devices of one cell after flattening

#: devices (µm after unit conversion) and fingers
MIN_LENGTH_UM = 1e-3                # smallest W or L of a device (1 nm)
MAX_LENGTH_UM = 1e3                 # largest W or L of a device (1 mm)
MAX_FINGERS = 1_000                 # nf x m of one device line; fingers of one device after sizing
MAX_CELL_FINGERS = 2_000            # fingers of one cell after sizing

#: process files (nbcell.pdk)
MAX_PROCESS_BYTES = 256 * 2**10     # one process or technology YAML file (bytes; the largest shipped: 21 kB)
MAX_YAML_NODES = 200_000            # values in one YAML file, aliases expanded
MAX_YAML_DEPTH = 32                 # nesting of mappings and lists in one YAML file
MAX_TEMPLATE_UM = 100.0             # any length of a cell template or device model (µm, either sign)

#: file names made from cell names (nbcell.paths)
MAX_STEM_CHARS = 120                # longer stems keep a prefix and a hash

#: command line
MAX_JOBS = 256                      # worker processes
MAX_SEED = 2**32 - 1                # seed=0..MAX_SEED
