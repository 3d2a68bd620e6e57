#!/usr/bin/env bash
# Train the RL agent on a GPU machine, then port a library it never saw with it; prints throughput.
# Sized to finish within 10 minutes: about 6 min of training (warm start included), at most 3 min of port.
#
#   bash benchmarks/device_train.sh [OUT]         (from the repository root)
#
# Needs a Python with nbcell's requirements and a CUDA build of jax (PYTHON=path/to/python to pick
# one; default .venv/bin/python) and the real libraries (NBCELL_CELLLIBS, default ../shared/celllibs).
# The code is the same as on a CPU: JAX puts the jitted PPO updates on the GPU by itself; only the
# batch sizes below are larger. Nothing is downloaded.
set -euo pipefail
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-runs/device}
mkdir -p "$OUT"

"$PY" - <<'EOF'
import jax
print("jax", jax.__version__, "devices:", jax.devices())
EOF

# 1) train on the built-in library and sky130_fd_sc_hd (sized for gf180mcu_7t), buckets 8-32 (the agent's),
#    512 envs per bucket; the KLayout verdicts run on 6 CPU worker processes beside it
t0=$(date +%s)
timeout 450 "$PY" -m nbcell.cli train out="$OUT/train" train.resume=false train.minutes=6 train.iterations=100000 \
    'train.buckets=[8,16,32]' train.warmstart_epochs=30 train.eval_every=20 train.checkpoint_every=20 \
    train.ppo.envs=512 train.ppo.minibatch=4096 train.verdict_pending=12 train.verdict_workers=6 \
    train.export="$OUT/policy" > "$OUT/train.json" 2> "$OUT/train.log" || { tail -20 "$OUT/train.log"; exit 1; }
t1=$(date +%s)

# 2) port gf180mcu_fd_sc_mcu7t5v0 (held out: never trained on) with the fresh policy; the workers share
#    the GPU without preallocating its memory
XLA_PYTHON_CLIENT_PREALLOCATE=false NBCELL_RL_CHECKPOINT="$OUT/policy" timeout 200 \
    "$PY" -m nbcell.cli port source=gf180mcu_7t target=gf180mcu_7t policy=rl jobs=12 cell_timeout=60 \
    out="$OUT/port" 2> "$OUT/port.log" || true
t2=$(date +%s)

"$PY" - "$OUT" "$((t1 - t0))" "$((t2 - t1))" <<'EOF'
import collections, csv, json, statistics, sys
out, train_s, port_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = list(csv.DictReader(open(f"{out}/train/metrics.csv")))
ppo = [r for r in rows if r["phase"] == "ppo"]
print(f"training: {train_s} s wall, {len({r['iteration'] for r in ppo})} PPO iterations")
for b in sorted({int(r["bucket"]) for r in ppo}):
    rb = [r for r in ppo if int(r["bucket"]) == b][1:]  # the first iteration compiles
    if rb:
        print(f"  bucket {b:>3}: {statistics.mean(float(r['env_steps_per_s']) for r in rb):>12,.0f} env steps/s, "
              f"{statistics.mean(float(r['grad_steps_per_s']) for r in rb):8.1f} gradient steps/s, "
              f"width/lb {float(rb[-1]['width_over_lb']):.3f}")
print("  final:", open(f"{out}/train.json").read().strip())
try:
    s = json.load(open(f"{out}/port/summary.json"))
except FileNotFoundError:
    sys.exit(f"port: no summary.json (see {out}/port.log)")
cells = s["cells"]
st = collections.Counter(c["status"] for c in cells)
pol = collections.Counter(c.get("policy") for c in cells)
print(f"port: {len(cells)} cells in {port_s} s ({len(cells) / max(port_s, 1):.2f} cells/s); status {dict(st)}; "
      f"policy {dict(pol)}")
EOF
