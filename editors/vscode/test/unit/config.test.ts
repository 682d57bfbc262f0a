/** Settings sent to the daemon: only known keys the user set, in camelCase; status bar words. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SERVER_SETTINGS, serverSettings } from "../../src/config";
import { statusText, statusTooltip } from "../../src/statusText";

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

test("a team's model server settings are sent, and the tooltip names the server", () => {
  const values: Record<string, unknown> = { backend: "openai", openaiBaseUrl: "http://gpu-box:8000/v1", openaiModel: "qwen", openaiApiKeyEnv: "TEAM_KEY", llamaServerUrl: null };
  assert.deepEqual(serverSettings((k) => values[k]), { backend: "openai", openaiBaseUrl: "http://gpu-box:8000/v1", openaiModel: "qwen", openaiApiKeyEnv: "TEAM_KEY" });
  const tip = statusTooltip({ enabled: true, running: true, backend: "openai", model: "qwen", server: "http://gpu-box:8000/v1" });
  assert.match(tip, /Backend: openai\nModel: qwen\nServer: http:\/\/gpu-box:8000\/v1/);
});

test("a shared index and its storage options are sent as the user set them", () => {
  const values: Record<string, unknown> = { sharedIndex: "s3://team-index/main", sharedIndexOptions: { allow_http: true }, embeddings: null };
  assert.deepEqual(serverSettings((k) => values[k]), { sharedIndex: "s3://team-index/main", sharedIndexOptions: { allow_http: true } });
  const tip = statusTooltip({ enabled: true, running: true, backend: "embedded", model: "m", sharedIndex: "s3://team-index/main (version 8)" });
  assert.match(tip, /Shared index: s3:\/\/team-index\/main \(version 8\)/);
});

test("every daemon setting the extension sends is declared in package.json, the server addresses for users only", () => {
  const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "package.json"), "utf8")) as {
    contributes: { configuration: { properties: Record<string, { scope?: string }> } };
  };
  const declared = manifest.contributes.configuration.properties;
  for (const key of SERVER_SETTINGS) {
    assert.ok(`srag.${key}` in declared, key);
  }
  for (const key of ["ollamaHost", "allowRemoteModelHost", "openaiBaseUrl", "openaiApiKeyEnv", "llamaServerUrl",
    "sharedIndex", "sharedIndexOptions"]) {
    assert.equal(declared[`srag.${key}`]?.scope, "application", key);
  }
});
