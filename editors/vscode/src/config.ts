/**
 * The daemon's settings as the extension sends them: only the `srag.*` keys the daemon knows, and only those the
 * user set (null means "the daemon's default"), so `workspace/didChangeConfiguration` never resets anything.
 */

/** camelCase names of the daemon's settings (srag_lsp/settings.py accepts camelCase). */
export const SERVER_SETTINGS = [
  "backend",
  "ollamaHost",
  "allowRemoteModelHost",
  "openaiBaseUrl",
  "openaiModel",
  "openaiApiKeyEnv",
  "llamaServerUrl",
  "ollamaModel",
  "embeddedModel",
  "draftModel",
  "refineModel",
  "promptTemplate",
  "strategy",
  "maxTokens",
  "draftMaxTokens",
  "maxRefinements",
  "contextBudgetTokens",
  "prefixLines",
  "suffixLines",
  "retrievalDeadlineMs",
  "inlineWaitMs",
  "debounceMs",
  "indexEnabled",
  "maxFileBytes",
  "embeddings",
  "embeddingModel",
  "embeddedThreads",
  "embeddedWeights",
  "sharedIndex",
  "sharedIndexOptions",
  "sharedIndexCopyMaxMb",
  "trace",
] as const;

export type SettingValue = string | number | boolean | Record<string, string | boolean>;

/** Pick the set server settings out of a getter (VS Code's `WorkspaceConfiguration.get`). */
export function serverSettings(get: (key: string) => unknown): Record<string, SettingValue> {
  const out: Record<string, SettingValue> = {};
  for (const key of SERVER_SETTINGS) {
    const value = get(key);
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      out[key] = value;
    } else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      out[key] = { ...(value as Record<string, string | boolean>) }; // sharedIndexOptions: KEY -> VALUE
    }
  }
  return out;
}
