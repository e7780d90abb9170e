#!/usr/bin/env bash
# The Python the benchmarks' peers run in: a virtual environment with today's PyTorch and Hugging Face's libraries
# (bench/requirements.txt), made on first use and reused after. Prints its python's path on the last line.
# MILLRACE_PY_ENV chooses where it lives (default: .venv-bench beside this repository).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
env="${MILLRACE_PY_ENV:-$here/.venv-bench}"
python="$env/bin/python"
check='import torch, numpy, safetensors, transformers, tokenizers, tiktoken, peft, jinja2'
if [ ! -x "$python" ] || ! "$python" -c "$check" >/dev/null 2>&1; then
  echo "bench: making the peers' Python environment in $env (pip install -r bench/requirements.txt; minutes, once)" >&2
  python3 -m venv "$env"
  # one retry: a machine without PyPI (only a local index or wheel directory) fails over at once
  "$python" -m pip install --quiet --retries 1 --timeout 30 -r "$here/bench/requirements.txt" >&2
  "$python" -c "$check"
fi
echo "$python"
