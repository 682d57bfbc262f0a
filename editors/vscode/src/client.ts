/**
 * The language client for srag-lsp: starts `srag-lsp --stdio`, opts in to streaming, and leaves out
 * vscode-languageclient's own inline-completion and completion-list providers (ghost text is ours alone).
 */

import * as vscode from "vscode";
import {
  LanguageClient,
  type DynamicFeature,
  type LanguageClientOptions,
  type ServerOptions,
  type StaticFeature,
  TransportKind,
} from "vscode-languageclient/node";

/** Features of vscode-languageclient that would register a second provider for what the extension draws itself. */
const LEFT_OUT = new Set(["textDocument/inlineCompletion", "textDocument/completion"]);

export class SragClient extends LanguageClient {
  override registerFeature(feature: StaticFeature | DynamicFeature<unknown>): void {
    const method = (feature as Partial<DynamicFeature<unknown>>).registrationType?.method;
    if (method !== undefined && LEFT_OUT.has(method)) {
      return;
    }
    super.registerFeature(feature);
  }
}

export function createClient(
  command: string,
  args: string[],
  cwd: string | undefined,
  settings: Record<string, unknown>,
  output: vscode.LogOutputChannel,
): SragClient {
  const serverOptions: ServerOptions = {
    command,
    args: [...args, "--stdio"],
    transport: TransportKind.stdio,
    options: cwd !== undefined ? { cwd } : {},
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    outputChannel: output,
    initializationOptions: { ...settings, streaming: true },
    // The daemon reads settings from workspace/didChangeConfiguration; the extension sends them itself.
    synchronize: {},
  };
  return new SragClient("srag-lsp", "srag-lsp", serverOptions, clientOptions);
}
