/**
 * The extension's entry point: finds and starts srag-lsp, wires the streaming ghost text, the status bar,
 * the commands and the settings, and runs the end-to-end self-test when `SRAG_VSCODE_SELFTEST` names a file.
 */

import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import { State, WorkDoneProgress, WorkDoneProgressCreateRequest, type WorkDoneProgressBegin,
  type WorkDoneProgressReport } from "vscode-languageclient/node";
import { createClient, type SragClient } from "./client";
import { serverSettings } from "./config";
import { CursorRest } from "./cursorRest";
import { ACCEPTED_COMMAND, StreamingInlineProvider } from "./inline";
import type { SragApi } from "./api";
import { runSelfTest } from "./selftest";
import { findServer } from "./serverPath";
import { type ContextResult, contextMarkdown } from "./contextView";
import { type StatusState, statusText, statusTooltip } from "./statusText";
import type { SuggestionParams } from "./suggestions";

export type { SragApi } from "./api";

const SUGGESTION = "srag/suggestion";

class Extension implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel("srag-lsp", { log: true });
  readonly provider: StreamingInlineProvider;
  readonly cursorRest: CursorRest;
  readonly drawn: SuggestionParams[] = [];
  readonly retriggers: SuggestionParams[] = [];
  readonly received: ((s: SuggestionParams) => void)[] = [];
  private client: SragClient | undefined;
  private serverCommand: string | undefined;
  private starting: Promise<void> = Promise.resolve();
  private readonly item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  private readonly state: StatusState = { enabled: true, running: false };
  private statusTimer: ReturnType<typeof setInterval> | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext) {
    this.state.enabled = this.config().get<boolean>("enabled", true);
    this.provider = new StreamingInlineProvider(
      () => this.client,
      () => this.state.enabled,
      () => this.config().get<number>("throttleMs", 100),
      {
        firstCharacter: (ms) => {
          this.state.lastFirstCharMs = ms;
          this.render();
        },
        drawn: (s) => {
          this.drawn.push({ ...s });
        },
        retriggered: (s) => {
          this.retriggers.push({ ...s });
        },
        log: (message) => this.output.debug(message),
      },
    );
    this.cursorRest = new CursorRest((method, params) => {
      const c = this.client;
      if (c !== undefined && c.isRunning()) {
        void c.sendNotification(method, params).catch(() => undefined);
      }
    }, () => this.state.enabled);
    this.item.command = "srag.showOutput";
    this.render();
    this.item.show();
    this.disposables.push(
      this.output,
      this.item,
      this.provider,
      this.cursorRest,
      vscode.languages.registerInlineCompletionItemProvider({ pattern: "**" }, this.provider),
      vscode.commands.registerCommand(ACCEPTED_COMMAND, (id: string) => this.provider.feedback.didAcceptWhole(id)),
      vscode.commands.registerCommand("srag.acceptAfterRedraw", () => this.provider.acceptAfterRedraw()),
      vscode.commands.registerCommand("srag.enable", () => this.setEnabled(true)),
      vscode.commands.registerCommand("srag.disable", () => this.setEnabled(false)),
      vscode.commands.registerCommand("srag.toggle", () => this.setEnabled(!this.state.enabled)),
      vscode.commands.registerCommand("srag.reindex", () => this.reindex()),
      vscode.commands.registerCommand("srag.showContext", () => this.showContext()),
      vscode.commands.registerCommand("srag.showStats", () => this.showStats()),
      vscode.commands.registerCommand("srag.runDoctor", () => this.runDoctor()),
      vscode.commands.registerCommand("srag.restartServer", () => this.restart()),
      vscode.commands.registerCommand("srag.showOutput", () => this.output.show(true)),
      vscode.workspace.registerTextDocumentContentProvider("srag", this.documents),
      vscode.workspace.onDidChangeConfiguration((e) => this.configurationChanged(e)),
    );
  }

  private readonly documents = new (class implements vscode.TextDocumentContentProvider {
    readonly contents = new Map<string, string>();
    private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
    readonly onDidChange = this.emitter.event;
    provideTextDocumentContent(uri: vscode.Uri): string {
      return this.contents.get(uri.path) ?? "";
    }
    set(uri: vscode.Uri, text: string): void {
      this.contents.set(uri.path, text);
      this.emitter.fire(uri);
    }
  })();

  config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration("srag");
  }

  ready(): Promise<void> {
    return this.starting;
  }

  current(): SragClient | undefined {
    return this.client;
  }

  start(): Promise<void> {
    this.starting = this.startClient();
    return this.starting;
  }

  private async startClient(): Promise<void> {
    const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
    const found = findServer(
      this.config().get<string>("serverPath", ""),
      this.context.extensionPath,
      folders,
      process.env.PATH ?? "",
    );
    if (found.command === undefined) {
      const message = `srag-lsp: no server found. Tried:\n  ${found.tried.join("\n  ")}\n`
        + "Set srag.serverPath, or install srag-lsp (scripts/setup.sh makes .venv/bin/srag-lsp).";
      this.output.appendLine(message);
      this.state.error = "srag-lsp not found";
      this.render();
      void vscode.window.showErrorMessage(
        `srag-lsp: no server found (tried ${found.tried.length} places). Set "srag.serverPath".`,
        "Show Log",
      ).then((pick) => pick !== undefined && this.output.show(true));
      return;
    }
    this.serverCommand = found.command;
    this.output.appendLine(`srag-lsp: starting ${found.command} --stdio`);
    const client = createClient(
      found.command,
      this.config().get<string[]>("serverArgs", []),
      folders[0],
      serverSettings((k) => this.config().get(k)),
      this.output,
    );
    this.client = client;
    client.onNotification(SUGGESTION, (params: SuggestionParams) => {
      for (const listener of this.received) {
        listener(params);
      }
      this.provider.onSuggestion(params);
    });
    client.onDidChangeState((e) => {
      this.state.running = e.newState === State.Running;
      this.render();
    });
    try {
      await client.start();
    } catch (err) {
      this.state.error = `the server did not start: ${String(err)}`;
      this.output.appendLine(`srag-lsp: ${this.state.error}`);
      this.render();
      return;
    }
    this.state.error = undefined;
    this.state.running = true;
    this.watchProgress(client);
    this.pollStatus();
  }

  /** `$/progress` from the daemon's indexer goes to the status bar (and a window progress). */
  private watchProgress(client: SragClient): void {
    client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      let finish: (() => void) | undefined;
      let report: ((r: { message?: string; increment?: number }) => void) | undefined;
      let lastPct = 0;
      const disposable = client.onProgress(WorkDoneProgress.type, token, (value) => {
        if (value.kind === "begin") {
          const begin: WorkDoneProgressBegin = value;
          this.state.indexing = { title: begin.title, percentage: begin.percentage, message: begin.message };
          void vscode.window.withProgress(
            { location: vscode.ProgressLocation.Window, title: `srag: ${begin.title}` },
            (progress) => {
              report = (r) => progress.report(r);
              return new Promise<void>((resolve) => (finish = resolve));
            },
          );
        } else if (value.kind === "report") {
          const r: WorkDoneProgressReport = value;
          const title = this.state.indexing?.title ?? "indexing";
          this.state.indexing = { title, percentage: r.percentage, message: r.message };
          const pct = r.percentage ?? lastPct;
          report?.({ message: r.message, increment: pct - lastPct });
          lastPct = pct;
        } else {
          this.state.indexing = undefined;
          finish?.();
          disposable.dispose();
          this.pollStatus();
        }
        this.render();
      });
    });
  }

  /** Ask `srag/status` until the model backend is known (it loads in the background). */
  pollStatus(): void {
    if (this.statusTimer !== undefined) {
      clearInterval(this.statusTimer);
    }
    let tries = 0;
    const poll = async (): Promise<void> => {
      const client = this.client;
      if (client === undefined || !client.isRunning()) {
        return;
      }
      try {
        const s = await client.sendRequest<Record<string, unknown>>("srag/status", {});
        this.state.backend = typeof s.backend === "string" ? s.backend : undefined;
        this.state.model = typeof s.model === "string" ? s.model : undefined;
        this.state.server = typeof s.server === "string" ? s.server : undefined;
        const shared = s.shared_index as { uri?: unknown; version?: unknown } | undefined;
        this.state.sharedIndex = typeof shared?.uri === "string"
          ? `${shared.uri}${typeof shared.version === "number" ? ` (version ${shared.version})` : ""}` : undefined;
        this.state.refineModel = typeof s.refine_model === "string" ? s.refine_model : undefined;
        this.state.backendError = typeof s.backend_error === "string" ? s.backend_error : undefined;
        this.render();
        if ((s.ready === true || this.state.backendError !== undefined || ++tries > 120) && this.statusTimer) {
          clearInterval(this.statusTimer);
          this.statusTimer = undefined;
        }
      } catch {
        // the server is restarting: the next start polls again
      }
    };
    void poll();
    this.statusTimer = setInterval(() => void poll(), 1000);
  }

  render(): void {
    this.item.text = statusText(this.state);
    this.item.tooltip = statusTooltip(this.state);
  }

  private async setEnabled(on: boolean): Promise<void> {
    this.state.enabled = on;
    if (!on) {
      this.provider.reset();
      void vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
    }
    this.render();
    await this.config().update("enabled", on, vscode.ConfigurationTarget.Global);
  }

  private configurationChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration("srag")) {
      return;
    }
    this.state.enabled = this.config().get<boolean>("enabled", true);
    this.render();
    if (e.affectsConfiguration("srag.serverPath") || e.affectsConfiguration("srag.serverArgs")) {
      void this.restart();
      return;
    }
    const client = this.client;
    if (client !== undefined && client.isRunning()) {
      void client.sendNotification("workspace/didChangeConfiguration", {
        settings: { srag: serverSettings((k) => this.config().get(k)) },
      });
      this.pollStatus();
    }
  }

  async stop(): Promise<void> {
    if (this.statusTimer !== undefined) {
      clearInterval(this.statusTimer);
      this.statusTimer = undefined;
    }
    const client = this.client;
    this.client = undefined;
    this.provider.reset();
    this.state.running = false;
    this.state.backend = undefined;
    this.state.model = undefined;
    this.state.indexing = undefined;
    this.render();
    if (client !== undefined) {
      try {
        await client.stop(5000);
      } catch (err) {
        this.output.appendLine(`srag-lsp: stopping the server: ${String(err)}`);
      }
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** A `srag/reindex` request where the daemon has one; else restart the daemon on a fresh index folder. */
  private async reindex(): Promise<void> {
    const client = this.client;
    if (client === undefined || !client.isRunning()) {
      await this.start();
      return;
    }
    try {
      await client.sendRequest("srag/reindex", {});
      void vscode.window.showInformationMessage("srag-lsp: reindexing the workspace");
      return;
    } catch (err) {
      this.output.appendLine(`srag-lsp: srag/reindex not available (${String(err)}); restarting on a fresh index`);
    }
    let indexDir: string | undefined;
    try {
      const s = await client.sendRequest<Record<string, unknown>>("srag/indexStatus", {});
      indexDir = typeof s.index_dir === "string" ? s.index_dir : undefined;
    } catch {
      indexDir = undefined;
    }
    await this.stop();
    if (indexDir !== undefined && safeToRemove(indexDir, vscode.workspace.workspaceFolders ?? [])) {
      this.output.appendLine(`srag-lsp: removing the index ${indexDir}`);
      fs.rmSync(indexDir, { recursive: true, force: true });
    }
    await this.start();
    void vscode.window.showInformationMessage("srag-lsp: restarted on a fresh index");
  }

  private async showContext(): Promise<void> {
    const result = await this.request<ContextResult>("srag/context");
    if (result !== undefined) {
      await this.showVirtual("context.md", contextMarkdown(result));
    }
  }

  private async showStats(): Promise<void> {
    const result = await this.request("srag/stats");
    if (result !== undefined) {
      await this.showVirtual("stats.json", JSON.stringify(result, null, 2));
    }
  }

  /** `srag-lsp doctor` (the checks `:checkhealth srag` and the command line run), shown read-only. */
  private async runDoctor(): Promise<void> {
    const command = this.serverCommand;
    if (command === undefined) {
      void vscode.window.showErrorMessage("srag-lsp: no server found, so no doctor to run (see the srag-lsp log)");
      return;
    }
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.cwd();
    const text = await new Promise<string>((resolve) => {
      execFile(command, ["doctor", "--workspace", folder], { timeout: 120_000 }, (err, stdout, stderr) => {
        const failed = err !== null && stdout === "" ? `srag-lsp doctor failed to run: ${err.message}\n` : "";
        resolve(`${failed}${stdout}${stderr ? `\n${stderr}` : ""}`);
      });
    });
    await this.showVirtual("doctor.txt", text);
  }

  private async request<T = Record<string, unknown>>(method: string): Promise<T | undefined> {
    const client = this.client;
    if (client === undefined || !client.isRunning()) {
      void vscode.window.showWarningMessage("srag-lsp: the server is not running (see the srag-lsp log)");
      return undefined;
    }
    try {
      return await client.sendRequest<T>(method, {});
    } catch (err) {
      void vscode.window.showErrorMessage(`srag-lsp: ${method} failed: ${String(err)}`);
      return undefined;
    }
  }

  /** A read-only document under the `srag:` scheme. */
  private async showVirtual(name: string, text: string): Promise<void> {
    const uri = vscode.Uri.from({ scheme: "srag", path: `/${name}` });
    this.documents.set(uri, text);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  }

  dispose(): void {
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}

/** An index folder may be removed only when it is absolute, deep enough, and no workspace folder lies inside it. */
export function safeToRemove(dir: string, folders: readonly vscode.WorkspaceFolder[]): boolean {
  const abs = path.resolve(dir);
  if (abs !== dir || abs.split(path.sep).filter((p) => p !== "").length < 3) {
    return false;
  }
  return folders.every((f) => !(f.uri.fsPath + path.sep).startsWith(abs + path.sep));
}

let extension: Extension | undefined;

export function activate(context: vscode.ExtensionContext): SragApi {
  extension = new Extension(context);
  context.subscriptions.push(extension);
  const ext = extension;
  void ext.start();
  const api: SragApi = {
    provider: ext.provider,
    cursorRest: ext.cursorRest,
    client: () => ext.current(),
    ready: () => ext.ready(),
    drawn: ext.drawn,
    retriggers: ext.retriggers,
    received: ext.received,
    output: ext.output,
  };
  const selfTest = process.env.SRAG_VSCODE_SELFTEST;
  if (selfTest !== undefined && selfTest !== "") {
    void runSelfTest(api, selfTest);
  }
  return api;
}

export async function deactivate(): Promise<void> {
  await extension?.stop();
  extension = undefined;
}
