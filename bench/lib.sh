# Shell functions shared by the bench scripts (sourced: bench/quant_base.sh,
# bench/half_precision.sh). They read the caller's settings: OUT, THREADS,
# ROUNDS, SHAPES, DTYPES, BATCH, SEQ, STEPS, PROMPT, NEW.

load() { cut -d' ' -f1-3 /proc/loadavg; }

# golora_bin sets GOLORA: GOLORA_BIN when given (a prebuilt binary, e.g. on
# a machine without Go), else a fresh build of ./cmd/golora in OUT.
golora_bin() {
	GOLORA=${GOLORA_BIN:-}
	if [ -z "$GOLORA" ]; then
		GOLORA=$OUT/golora
		go build -o "$GOLORA" ./cmd/golora
	fi
}

# jsonl FILE PART SHAPE DTYPE ROUND WHO JSON appends one result line to FILE
# (and stderr) with the load average: {"part", "shape", "dtype", "round",
# "load", WHO: JSON}.
jsonl() {
	echo "{\"part\":\"$2\",\"shape\":\"$3\",\"dtype\":\"$4\",\"round\":$5,\"load\":\"$(load)\",\"$6\":$7}" | tee -a "$1" >&2
}

# speed_rounds FILE "PARTS" [HOOK]: ROUNDS rounds, each running every SHAPES
# (default gpt2 llama) × DTYPES pair through the golora benchmarks PARTS, in
# that order ("train": LoRA r 8 on q,v, BATCH × SEQ, STEPS timed after one
# warm-up; "generate": a PROMPT-token prompt then NEW tokens), alternating
# so that a change in the machine's load hits every contender; then HOOK
# ROUND, when given. Results go to FILE through jsonl.
speed_rounds() {
	local res=$1 parts=$2 hook=${3:-} r shape dt part j
	for r in $(seq "$ROUNDS"); do
		for shape in ${SHAPES:-gpt2 llama}; do
			for dt in $DTYPES; do
				for part in $parts; do
					case $part in
					train) j=$("$GOLORA" bench train --arch $shape --base-dtype $dt --batch "$BATCH" --seq-len "$SEQ" --steps "$STEPS" --warmup-steps 1 --targets q,v --threads "$THREADS") ;;
					generate) j=$("$GOLORA" bench generate --arch $shape --base-dtype $dt --prompt-len "$PROMPT" --new-tokens "$NEW" --repeat 1 --threads "$THREADS") ;;
					esac
					jsonl "$res" $part $shape $dt $r golora "$j"
				done
			done
		done
		[ -z "$hook" ] || $hook $r
	done
}
