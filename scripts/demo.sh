#!/usr/bin/env bash
# Set up (if needed), index this repository, and stream a completion headlessly on the embedded default.
#   scripts/demo.sh                      # the example cursor in examples/shop/checkout.py
#   scripts/demo.sh path/to/file.py:LINE:COL [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
location=${1:-examples/shop/checkout.py:10:18}
shift || true
export SRAG_BACKEND=${SRAG_BACKEND:-auto}
.venv/bin/srag-index build .
.venv/bin/srag-lsp complete --workspace . "$location" "$@"
