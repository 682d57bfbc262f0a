/** Shared by the protocol and end-to-end tests: the repository's paths, a temp copy of examples/shop, the server. */

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** editors/vscode: the first folder above this (bundled) file that holds the extension's package.json. */
function extensionDir(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "esbuild.mjs"))) {
    const up = path.dirname(dir);
    if (up === dir) {
      throw new Error(`no editors/vscode above ${__dirname}`);
    }
    dir = up;
  }
  return dir;
}

export const EXTENSION_DIR = extensionDir();
export const REPO = path.resolve(EXTENSION_DIR, "..", "..");
export const SERVER = process.env.SRAG_LSP ?? path.join(REPO, ".venv", "bin", "srag-lsp");

/** A fresh temp folder with a copy of examples/shop in `shop/`, a cache folder and a log path. */
export function tempShop(prefix: string): { root: string; shop: string; cache: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const shop = path.join(root, "shop");
  fs.cpSync(path.join(REPO, "examples", "shop"), shop, { recursive: true });
  const cache = path.join(root, "cache");
  fs.mkdirSync(cache);
  return { root, shop, cache };
}

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}
