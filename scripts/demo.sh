#!/usr/bin/env bash
# Set up (if needed), index a workspace, and stream a completion headlessly on the embedded default.
#   scripts/demo.sh                      # the example workspace examples/shop, cursor in checkout.py
#   scripts/demo.sh path/to/file.py:LINE:COL [--json]    # a cursor in this repository (indexes it)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export SRAG_BACKEND=${SRAG_BACKEND:-auto}
if [ $# -eq 0 ] || [[ "$1" == -* ]]; then
  # The example shop on its own: this repository's tests quote it, and their copies would be retrieved too.
  workspace=examples/shop
  location=checkout.py:10:18
else
  workspace=.
  location=$1
  shift
fi
.venv/bin/srag-index build "$workspace"
.venv/bin/srag-lsp complete --workspace "$workspace" "$location" "$@"
