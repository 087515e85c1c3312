#!/usr/bin/env bash
# Attention alone, two builds of the nn tests alternating (issue 19): CPU
# time per call of GPT-2's attention for one sequence (T = 256, 12 heads
# of 64; BenchmarkAttention/prefill: the forward's tiled path and the
# backward), on 1 thread. CPU time, not wall time, so that a shared
# machine's waits do not count; each round runs OLD and NEW back to back,
# alternating which goes first, and records the load average.
#
# Usage: (build each: go test -c -o /tmp/nn-old.test ./nn at the old commit)
#        OLD=/tmp/nn-old.test NEW=/tmp/nn-new.test ROUNDS=5 bench/attn_ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OLD:?set OLD to the baseline nn test binary}" "${NEW:?set NEW to the nn test binary under test}"
ROUNDS=${ROUNDS:-5}
N=${N:-600}
OUT=bench/out
mkdir -p "$OUT"
res=$OUT/attn_ab.txt
: >"$res"
run() { # run ROUND NAME BIN BENCH CALLS
	local load t
	load=$(cut -d' ' -f1 /proc/loadavg)
	t=$( { /usr/bin/time -f "%U %S" env GOLORA_THREADS=1 GOMAXPROCS=1 "$3" -test.run '^$' \
		-test.bench "$4" -test.benchtime "${5}x" >/dev/null; } 2>&1 | tail -1)
	echo "$1 $2 $4 $5 $load $t" | tee -a "$res" >&2
}
for r in $(seq "$ROUNDS"); do
	for b in 'Attention/prefill/forward/tiled' 'Attention/prefill/backward'; do
		calls=$N
		[[ $b == *forward* ]] && calls=$((2 * N))
		if ((r % 2)); then
			run "$r" old "$OLD" "$b" "$calls"
			run "$r" new "$NEW" "$b" "$calls"
		else
			run "$r" new "$NEW" "$b" "$calls"
			run "$r" old "$OLD" "$b" "$calls"
		fi
	done
done
/usr/bin/python3 - "$res" <<'PY'
import statistics, sys
sys.path.insert(0, "bench")
from blasinfo import spread
ms, loads = {}, []
for line in open(sys.argv[1]):
    r, name, bench, calls, load, user, sys_ = line.split()
    ms.setdefault(bench, {}).setdefault(r, {})[name] = (float(user) + float(sys_)) * 1e3 / int(calls)
    loads.append(float(load))
print(f"1 thread, CPU ms per call; load average {min(loads)}-{max(loads)}\n")
print("| benchmark | rounds | OLD ms | NEW ms | NEW/OLD |")
print("| --- | ---: | ---: | ---: | ---: |")
for bench, rounds in ms.items():
    pairs = [(v["old"], v["new"]) for v in rounds.values()]
    med = statistics.median
    print(f"| {bench} | {len(pairs)} | {med(a for a, _ in pairs):.2f} | {med(b for _, b in pairs):.2f} | {spread(b / a for a, b in pairs)} |")
PY
