#!/usr/bin/env bash
# Compare golora's Sgemm with OpenBLAS on the transformer GEMM shapes.
#
# OpenBLAS is reached through Debian's python3-numpy (numpy -> libblas.so.3
# -> OpenBLAS 0.3.21, pthread build), as in ../shared/bench/sgemm_bench.py. For each shape the two
# run alternately, ROUNDS times each, so load from other processes hits both
# alike (which goes first alternates too); each run reports the median of
# repeated timed calls after warm-up, and the table shows the median over
# rounds and the min / median / max of the per-round golora/OpenBLAS ratio.
# numpy runs unhandicapped: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset
# for its command alone, and each line records the OpenBLAS kernel
# (openblas_get_corename), numpy's version and the load average
# (bench/blasinfo.py).
#
# Usage: bench/gemm_vs_openblas.sh            (THREADS=2 ROUNDS=5 by default)
#        GOLORA_BIN=/path/to/golora bench/gemm_vs_openblas.sh
#        THREADS=1 ROUNDS=5 bench/gemm_vs_openblas.sh
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-5}
OUT=bench/out
mkdir -p "$OUT"

# python3-numpy alone links numpy to Debian's reference BLAS (libblas3,
# about 1.5 GFLOP/s); libopenblas0-pthread switches libblas.so.3 to OpenBLAS.
uses_openblas() {
	LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 -c 'import numpy as np; a = np.ones((64, 64), np.float32); a @ a
import sys; sys.exit(0 if "openblas" in open("/proc/self/maps").read() else 1)' 2>/dev/null
}
if ! uses_openblas; then
	apt-get update && apt-get install -y python3-numpy libopenblas0-pthread
	uses_openblas || { echo "numpy does not load OpenBLAS" >&2; exit 1; }
fi
# GOLORA_BIN runs a prebuilt binary instead of building ./cmd/golora.
GOLORA=${GOLORA_BIN:-$OUT/golora}
[ -n "${GOLORA_BIN:-}" ] || go build -o "$GOLORA" ./cmd/golora

cat >"$OUT/numpy_gemm.py" <<'PY'
# Times numpy's matmul (OpenBLAS sgemm) on one shape; prints a JSON line
# shaped like `golora bench gemm`.
import json, os, statistics, sys, time
import numpy as np
sys.path.insert(0, os.environ["REF_BENCH"])
import blasinfo
M, N, K = map(int, sys.argv[1:4])
ta, tb = sys.argv[4] == "1", sys.argv[5] == "1"
rng = np.random.default_rng(0)
a = rng.standard_normal((K, M) if ta else (M, K), dtype=np.float32)
b = rng.standard_normal((N, K) if tb else (K, N), dtype=np.float32)
a = a.T if ta else a  # a transposed view: numpy passes the trans flag to sgemm
b = b.T if tb else b
c = np.empty((M, N), dtype=np.float32)
def run():
    t0 = time.perf_counter()
    np.matmul(a, b, out=c)
    return time.perf_counter() - t0
warm = run() + run()
reps = min(50, max(3, int(4.0 / warm)))
cpu0 = time.process_time()  # all threads: OpenBLAS's spinning counts too
ts = sorted(run() for _ in range(reps))
cpu = time.process_time() - cpu0
med = statistics.median(ts)
fl = 2.0 * M * N * K
print(json.dumps({"m": M, "n": N, "k": K, "transa": ta, "transb": tb, "repeat": reps,
                  "gflops": fl / med / 1e9, "median_ms": med * 1e3,
                  "gflops_cpu": fl * reps / cpu / 1e9 if cpu > 0 else 0, **blasinfo.info()}))
PY

# M N K transA transB  (label)
SHAPES=(
	"1024 1024 1024 0 0 square"
	"1024 2304 768 0 0 qkv"
	"1024 3072 768 0 0 mlp-up"
	"1024 768 3072 0 0 mlp-down"
	"256 50257 768 0 0 lm-head"
	"1024 2304 768 0 1 fwd-x·Wᵀ"
	"2304 768 1024 1 0 bwd-dW=dyᵀ·x"
)

openblas() {
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE REF_BENCH="$PWD/bench" OPENBLAS_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" \
		LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread \
		/usr/bin/python3 "$OUT/numpy_gemm.py" "$M" "$N" "$K" "$TA" "$TB"
}
RES="$OUT/gemm_vs_openblas.jsonl"
: >"$RES"
for s in "${SHAPES[@]}"; do
	read -r M N K TA TB LABEL <<<"$s"
	flags=()
	[ "$TA" = 1 ] && flags+=(--transa)
	[ "$TB" = 1 ] && flags+=(--transb)
	for r in $(seq "$ROUNDS"); do
		((r % 2 == 0)) || o=$(openblas)
		g=$("$GOLORA" bench gemm "$M" "$N" "$K" --threads "$THREADS" "${flags[@]}")
		((r % 2 == 1)) || o=$(openblas)
		echo "{\"label\":\"$LABEL\",\"round\":$r,\"golora\":$g,\"openblas\":$o}" | tee -a "$RES" >&2
	done
done

/usr/bin/python3 - "$RES" "$THREADS" <<'PY'
import json, statistics, sys
sys.path.insert(0, "bench")
from blasinfo import describe, spread
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows.setdefault(r["label"], []).append(r)
print(f"threads={sys.argv[2]};", describe(next(iter(rows.values()))[0]["openblas"]), "(first run)")
print(f"GFLOP/s: median over rounds of each run's median call; ratio: min / median / max over {len(next(iter(rows.values())))} alternating rounds;")
print("GFLOP/cpu-s: work per CPU-second of the process (all threads) over the timed calls\n")
print("| shape (M×N×K) | op | golora GFLOP/s | OpenBLAS GFLOP/s | ratio | golora GFLOP/cpu-s | OpenBLAS GFLOP/cpu-s | cpu ratio |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for label, rs in rows.items():
    g0 = rs[0]["golora"]
    op = ("Aᵀ" if g0["transa"] else "A") + "·" + ("Bᵀ" if g0["transb"] else "B")
    g = statistics.median(r["golora"]["gflops"] for r in rs)
    o = statistics.median(r["openblas"]["gflops"] for r in rs)
    gc = statistics.median(r["golora"].get("gflops_cpu", 0) for r in rs)
    oc = statistics.median(r["openblas"].get("gflops_cpu", 0) for r in rs)
    cr = f"{gc / oc:.2f}x" if gc and oc else "n/a"
    ratio = spread(r["golora"]["gflops"] / r["openblas"]["gflops"] for r in rs)
    print(f"| {g0['m']}×{g0['n']}×{g0['k']} ({label}) | {op} | {g:.1f} | {o:.1f} | {ratio} | {gc:.1f} | {oc:.1f} | {cr} |")
PY
