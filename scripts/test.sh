#!/usr/bin/env bash
# Set up (if needed) and run the checks: ruff, then the whole test suite (real model, real LanceDB,
# real file events, a real LSP client). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "test: ruff" >&2
.venv/bin/ruff check srag_lsp indexer tests benchmarks
scripts/editors/test_vscode.sh  # VS Code extension: tsc, eslint, unit, protocol and code-server end-to-end tests
echo "test: pytest" >&2
export SRAG_REQUIRE_EMBEDDINGS=1  # set-up installed the local embedding model: its tests must run, not skip
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
