#!/usr/bin/env bash
# Rebuilds data/demo/stories_zoe.jsonl, the embedded demo set of `golora train`:
# stories that the embedded base model (stories260K) writes itself, sampled with
# fixed seeds, keeping those that name "Lily" and renaming her "Zoe". The base
# model almost always calls its heroine Lily, so after training on the demo
# `golora generate --adapter OUT` visibly says Zoe instead. Takes ~2 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(mktemp -d)/golora
go build -o "$bin" ./cmd/golora
tmp=$(mktemp -d)
for s in $(seq 1 400); do
  "$bin" generate --prompt "" --temperature 0.8 --top-p 0.95 --max-new-tokens 300 --seed "$s" --threads 1 >"$tmp/$s.txt"
done
python3 - "$tmp" >data/demo/stories_zoe.jsonl <<'PY'
import json, sys, os
d = sys.argv[1]
for s in range(1, 401):
    text = open(os.path.join(d, f"{s}.txt"), encoding="utf-8").read().strip()
    if "Lily" in text:
        print(json.dumps({"text": text.replace("Lily", "Zoe")}, ensure_ascii=False))
PY
rm -rf "$tmp" "$(dirname "$bin")"
wc -l data/demo/stories_zoe.jsonl
