/**
 * The extension's protocol against the real srag-lsp (real model, real index on a temp copy of examples/shop):
 * initialize with streaming, open a file, ask for an inline completion, receive `srag/suggestion` notifications
 * whose text the response agrees with, then the custom requests the extension's commands use, and the
 * acceptance notifications (the daemon must not fail on them).
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import {
  createProtocolConnection,
  InitializeRequest,
  InitializedNotification,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  type ProtocolConnection,
  DidOpenTextDocumentNotification,
  DidChangeTextDocumentNotification,
  StreamMessageReader,
  StreamMessageWriter,
  ShutdownRequest,
  ExitNotification,
  type InlineCompletionList,
} from "vscode-languageserver-protocol/node";
import type { SuggestionParams } from "../src/suggestions";
import { SERVER, tempShop } from "./support";

let child: ChildProcess;
let connection: ProtocolConnection;
let stderr = "";
const suggestions: SuggestionParams[] = [];
const shop = tempShop("srag-vscode-protocol-");
const file = path.join(shop.shop, "checkout.py");
const uri = pathToFileURL(file).toString();

before(async () => {
  assert.ok(fs.existsSync(SERVER), `no server at ${SERVER} (run scripts/setup.sh)`);
  child = spawn(SERVER, ["--stdio"], { cwd: shop.shop, env: { ...process.env, SRAG_CACHE_DIR: shop.cache }, stdio: "pipe" });
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  connection = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  connection.onNotification("srag/suggestion", (s: SuggestionParams) => {
    suggestions.push(s);
  });
  connection.onRequest("window/workDoneProgress/create", () => null);
  connection.onNotification("window/logMessage", () => undefined);
  connection.onNotification("window/showMessage", () => undefined);
  connection.listen();
  const init = await connection.sendRequest(InitializeRequest.type, {
    processId: process.pid,
    rootUri: pathToFileURL(shop.shop).toString(),
    workspaceFolders: [{ uri: pathToFileURL(shop.shop).toString(), name: "shop" }],
    capabilities: { window: { workDoneProgress: true } },
    initializationOptions: { streaming: true },
  });
  assert.ok(init.capabilities.inlineCompletionProvider, "the daemon offers inline completion");
  await connection.sendNotification(InitializedNotification.type, {});
});

after(async () => {
  try {
    await Promise.race([connection.sendRequest(ShutdownRequest.type), new Promise((r) => setTimeout(r, 10_000))]);
    await connection.sendNotification(ExitNotification.type);
  } catch {
    // the server is gone already
  }
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve();
    }, 10_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  connection.dispose();
  fs.rmSync(shop.root, { recursive: true, force: true });
});

async function until<T>(what: () => T | undefined, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = what();
    if (v !== undefined) {
      return v;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return what();
}

test("inline completion streams srag/suggestion notifications for the request's version and position", async () => {
  const original = fs.readFileSync(file, "utf8");
  const lines = original.split("\n");
  const line = lines.findIndex((l) => l.endsWith("= "));
  assert.ok(line >= 0);
  await connection.sendNotification(DidOpenTextDocumentNotification.type, {
    textDocument: { uri, languageId: "python", version: 1, text: original },
  });
  // One typed word, as the editor sends it.
  const typed = "apply";
  lines[line] = lines[line] + typed;
  await connection.sendNotification(DidChangeTextDocumentNotification.type, {
    textDocument: { uri, version: 2 },
    contentChanges: [{ text: lines.join("\n") }],
  });
  const position = { line, character: lines[line].length };
  const answer = (await connection.sendRequest(InlineCompletionRequest.type, {
    textDocument: { uri },
    position,
    context: { triggerKind: InlineCompletionTriggerKind.Automatic },
  })) as InlineCompletionList | null;
  const final = await until(() => suggestions.find((s) => s.final), 240_000);
  assert.ok(final, `a final srag/suggestion arrived\n${stderr.slice(-3000)}`);
  const mine = suggestions.filter((s) => s.id === final.id);
  for (const s of mine) {
    assert.equal(s.uri, uri);
    assert.equal(s.version, 2);
    assert.deepEqual(s.position, position);
    assert.ok(s.stage === "draft" || s.stage === "refined", s.stage);
  }
  // Drafts come before refinements, and the last one is final.
  const stages = mine.map((s) => s.stage);
  assert.deepEqual(stages, [...stages].sort((a, b) => (a === b ? 0 : a === "draft" ? -1 : 1)));
  assert.equal(mine.at(-1)!.final, true);
  const items = answer === null ? [] : answer.items;
  if (items.length > 0) {
    const text = typeof items[0]!.insertText === "string" ? items[0]!.insertText : items[0]!.insertText.value;
    assert.ok(mine.some((s) => s.text === text), `the response's text was streamed: ${JSON.stringify(text)}`);
  }
  assert.ok(mine.some((s) => s.text !== ""), "some text was streamed");
});

test("the requests behind the commands answer, and acceptance notifications are taken without error", async () => {
  const status = await connection.sendRequest<Record<string, unknown>>("srag/status", {});
  assert.equal(typeof status.version, "string");
  const last = suggestions.filter((s) => s.text !== "").at(-1);
  assert.ok(last);
  await connection.sendNotification("srag/didShow", { id: last.id, uri, stage: last.stage, text: last.text });
  await connection.sendNotification("srag/didAccept", { id: last.id, uri, stage: last.stage, text: last.text, accepted: last.text, partial: false });
  await connection.sendNotification("srag/didDismiss", { id: "s999", uri, stage: "draft" });
  const context = await connection.sendRequest<Record<string, unknown>>("srag/context", {});
  assert.equal(context.id, suggestions.filter((s) => s.final).at(-1)!.id);
  assert.ok(Array.isArray(context.chunks));
  const stats = await connection.sendRequest<Record<string, unknown>>("srag/stats", {});
  assert.equal(typeof stats, "object");
  const index = await connection.sendRequest<Record<string, unknown>>("srag/indexStatus", {});
  assert.equal(typeof index.state, "string");
  assert.equal(child.exitCode, null, "the daemon is still running");
});
