#!/usr/bin/env bash
# Set up (if needed) and run the checks: ruff, then the whole test suite (real model, real LanceDB,
# real file events, a real LSP client). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "test: ruff" >&2
.venv/bin/ruff check srag_lsp indexer tests benchmarks scripts
scripts/editors/test_vscode.sh  # VS Code extension: tsc, eslint, unit, protocol and code-server end-to-end tests
echo "test: pytest" >&2
export SRAG_REQUIRE_EMBEDDINGS=1  # set-up installed the local embedding model: its tests must run, not skip
# Everything but the long end-to-end sessions first (a quick verdict), then those (a real editor typing, a soak).
group() {  # pytest on one group; a group that the extra arguments leave empty (exit 5) is no failure
  local rc=0
  .venv/bin/python -m pytest -p no:cacheprovider "$@" || rc=$?
  [ "$rc" -eq 5 ] && rc=0
  return "$rc"
}
group -m "not e2e" "$@"
echo "test: pytest, the long end-to-end sessions" >&2
group -m e2e "$@"
