/**
 * Where to find the srag-lsp executable: the setting, the project's `.venv` near the extension or in the
 * workspace, then `PATH`; and every place tried, so the user can be told when none works.
 */

import * as fs from "node:fs";
import * as path from "node:path";

export interface Found {
  command: string | undefined;
  tried: string[];
}

export type IsExecutable = (file: string) => boolean;

export const isExecutable: IsExecutable = (file) => {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

function venvBinary(root: string): string {
  return process.platform === "win32"
    ? path.join(root, ".venv", "Scripts", "srag-lsp.exe")
    : path.join(root, ".venv", "bin", "srag-lsp");
}

/** The folders that may hold the project (and its `.venv`): the extension's folder and its parents, then the workspace's. */
export function projectRoots(extensionPath: string, workspaceFolders: string[]): string[] {
  const roots: string[] = [];
  const add = (p: string): void => {
    if (!roots.includes(p)) {
      roots.push(p);
    }
  };
  // The extension lives in <project>/editors/vscode when run from a clone.
  let dir = path.resolve(extensionPath);
  for (let i = 0; i < 3; i++) {
    add(dir);
    const up = path.dirname(dir);
    if (up === dir) {
      break;
    }
    dir = up;
  }
  for (const folder of workspaceFolders) {
    add(path.resolve(folder));
  }
  return roots;
}

export function findServer(
  setting: string,
  extensionPath: string,
  workspaceFolders: string[],
  envPath: string,
  exec: IsExecutable = isExecutable,
): Found {
  const tried: string[] = [];
  if (setting.trim() !== "") {
    const file = setting.trim().replace(/^~(?=\/|$)/, process.env.HOME ?? "~");
    tried.push(`srag.serverPath: ${file}`);
    return { command: exec(file) ? file : undefined, tried };
  }
  for (const root of projectRoots(extensionPath, workspaceFolders)) {
    const candidate = venvBinary(root);
    tried.push(candidate);
    if (exec(candidate)) {
      return { command: candidate, tried };
    }
  }
  const name = process.platform === "win32" ? "srag-lsp.exe" : "srag-lsp";
  for (const dir of envPath.split(path.delimiter).filter((d) => d !== "")) {
    if (exec(path.join(dir, name))) {
      tried.push(`PATH: ${path.join(dir, name)}`);
      return { command: path.join(dir, name), tried };
    }
  }
  tried.push(`srag-lsp on PATH (${envPath.split(path.delimiter).filter((d) => d !== "").length} folders)`);
  return { command: undefined, tried };
}
