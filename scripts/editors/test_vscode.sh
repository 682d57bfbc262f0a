#!/usr/bin/env bash
# The VS Code extension's checks: set up (scripts/editors/setup_vscode.sh), then `npm test` in editors/vscode:
# tsc, eslint, the .vsix build, unit tests, the protocol test against the real srag-lsp, and the
# end-to-end test in code-server driven by headless Chromium. Needs the project's .venv (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS
NODE_BIN="$(scripts/editors/setup_vscode.sh | tail -n 1)"
export PATH="$NODE_BIN:$PATH"
cd editors/vscode
echo "test_vscode: npm test (tsc, eslint, .vsix, unit, protocol, end-to-end)" >&2
npm test >&2
echo "test_vscode: passed in $((SECONDS - started)) s" >&2
