/** Finding the server: the setting, the project's .venv near the extension or workspace, PATH; what was tried. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { findServer, projectRoots } from "../../src/serverPath";

test("the setting wins and is the only place tried", () => {
  const found = findServer("/opt/srag/bin/srag-lsp", "/x/editors/vscode", [], "/usr/bin", () => true);
  assert.equal(found.command, "/opt/srag/bin/srag-lsp");
  assert.equal(found.tried.length, 1);
});

test("the clone's .venv two folders above the extension is found", () => {
  const found = findServer("", "/clone/editors/vscode", ["/work"], "/usr/bin", (f) => f === "/clone/.venv/bin/srag-lsp");
  assert.equal(found.command, "/clone/.venv/bin/srag-lsp");
});

test("the workspace's .venv, then PATH", () => {
  const ws = findServer("", "/ext", ["/work"], "/usr/bin", (f) => f === "/work/.venv/bin/srag-lsp");
  assert.equal(ws.command, "/work/.venv/bin/srag-lsp");
  const onPath = findServer("", "/ext", ["/work"], "/a:/b", (f) => f === "/b/srag-lsp");
  assert.equal(onPath.command, "/b/srag-lsp");
});

test("when nothing is found, every place tried is listed", () => {
  const found = findServer("", "/c/editors/vscode", ["/work"], "/a:/b", () => false);
  assert.equal(found.command, undefined);
  assert.ok(found.tried.includes("/c/.venv/bin/srag-lsp"));
  assert.ok(found.tried.includes("/work/.venv/bin/srag-lsp"));
  assert.match(found.tried.at(-1)!, /PATH/);
});

test("project roots: the extension's folder and two above it, then the workspace, without repeats", () => {
  assert.deepEqual(projectRoots("/c/editors/vscode", ["/c", "/w"]), ["/c/editors/vscode", "/c/editors", "/c", "/w"]);
});
