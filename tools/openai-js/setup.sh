#!/usr/bin/env bash
# Installs the pinned official openai npm client (package-lock.json) that
# serve/'s TestNodeOpenAIClient drives golora serve with (test.mjs).
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "openai-js: node is not installed (Debian: apt-get install nodejs npm)" >&2; exit 1; }
lockSum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.golora-lock.sha256 2>/dev/null)" != "$lockSum" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lockSum" > node_modules/.golora-lock.sha256
fi
