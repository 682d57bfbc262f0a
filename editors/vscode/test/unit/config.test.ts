/** Settings sent to the daemon: only known keys the user set, in camelCase; status bar words. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { serverSettings } from "../../src/config";
import { statusText } from "../../src/statusText";

test("unset (null) settings are not sent, set ones are", () => {
  const values: Record<string, unknown> = { backend: "embedded", maxTokens: 32, ollamaHost: null, serverPath: "/x", enabled: true };
  assert.deepEqual(serverSettings((k) => values[k]), { backend: "embedded", maxTokens: 32 });
});

test("the status bar shows backend, model, indexing and the last time to first character", () => {
  const text = statusText({ enabled: true, running: true, backend: "embedded", model: "qwen2.5-coder-0.5b", indexing: { title: "Indexing", percentage: 42.4 }, lastFirstCharMs: 312.6 });
  assert.equal(text, "$(sparkle) srag · embedded: qwen2.5-coder-0.5b · indexing 42% · 313 ms");
  assert.match(statusText({ enabled: false, running: true }), /circle-slash.*loading model/);
  assert.match(statusText({ enabled: true, running: false, error: "srag-lsp not found" }), /error/);
});
