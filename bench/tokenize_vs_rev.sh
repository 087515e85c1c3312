#!/usr/bin/env bash
# Tokenizer encode speed of this checkout against another git revision, in
# CPU seconds per MiB (BenchmarkEncode's 1 MiB of Alice, fresh word cache),
# so that the load of a shared machine, which stretches wall time, matters
# less. Each measurement is the user CPU time of a run with N encodes minus
# that of a run with one (the difference leaves out loading tokenizer.json),
# divided by N-1; the two revisions alternate, round by round.
#
# Needs the npm tokenizers (tools/tokref/setup.sh).
# Usage: bench/tokenize_vs_rev.sh [REV]      (REV=main ROUNDS=5 N=21)
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${1:-main}
ROUNDS=${ROUNDS:-5}
N=${N:-21}
TOKS=${TOKS:-gpt2 llama2 llama3 qwen3 gemma3}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git archive "$REV" | tar -x -C "$src"
(cd "$src" && go test -c -o "$OLDPWD/$OUT/tok-rev.test" ./tokenizer/)
go test -c -o "$OUT/tok-head.test" ./tokenizer/
cpu() { # binary tokenizer encodes -> user CPU seconds
	{ /usr/bin/time -f %U env GOMAXPROCS=1 "$1" -test.run XXX -test.bench "Encode\$/^$2\$" -test.benchtime "${3}x" >/dev/null; } 2>&1 | tail -1
}
res=$OUT/tokenize_vs_rev.txt
: >"$res"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$ROUNDS"); do
	for b in rev head; do
		for t in $TOKS; do
			# A revision that cannot load a tokenizer skips its benchmark: 0 s.
			echo "$r $b $t $(cpu "$PWD/$OUT/tok-$b.test" "$t" 1) $(cpu "$PWD/$OUT/tok-$b.test" "$t" "$N")" >>"$res"
		done
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$res" "$N" "$REV" <<'EOF'
import collections, statistics, sys
res, n, rev = sys.argv[1], int(sys.argv[2]), sys.argv[3]
d = collections.defaultdict(list)
for line in open(res):
    r, b, t, u1, un = line.split()
    d[(t, b)].append((float(un) - float(u1)) / (n - 1))
toks = list(dict.fromkeys(t for t, _ in d))
print(f"| tokenizer | {rev} CPU s/MiB (median) | this checkout | ratio this/{rev} min / median / max |")
print("| --- | --- | --- | --- |")
for t in toks:
    a, b = d[(t, "rev")], d[(t, "head")]
    if statistics.median(a) <= 0.001:
        print(f"| {t} | (cannot load) | {statistics.median(b):.3f} | |")
        continue
    rs = sorted(y / x for x, y in zip(a, b))
    print(f"| {t} | {statistics.median(a):.3f} | {statistics.median(b):.3f} | {rs[0]:.2f} / {statistics.median(rs):.2f} / {rs[-1]:.2f} |")
EOF
