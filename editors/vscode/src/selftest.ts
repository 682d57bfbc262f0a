/**
 * The end-to-end self-test, run inside the real extension host when `SRAG_VSCODE_SELFTEST` names a result file
 * (code-server cannot run `--extensionTestsPath`). It types into a Python file as a person would, waits for the
 * daemon's ghost text and for its later stage, lets the browser driver take a screenshot, accepts with
 * `editor.action.inlineSuggest.commit` (Tab's command) and checks the document's text. Each phase is written to
 * the result file so the driver outside can follow.
 */

import * as fs from "node:fs";
import * as vscode from "vscode";
import type { SragApi } from "./api";
import type { SuggestionParams } from "./suggestions";

interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: () => T | undefined, timeoutMs: number, stepMs = 50): Promise<T | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = what();
    if (v !== undefined) {
      return v;
    }
    if (Date.now() > end) {
      return undefined;
    }
    await sleep(stepMs);
  }
}

export async function runSelfTest(api: SragApi, resultFile: string): Promise<void> {
  const started = Date.now();
  const checks: Check[] = [];
  const received: SuggestionParams[] = [];
  const sent: { method: string; params: Record<string, unknown> }[] = [];
  const result: Record<string, unknown> = { phase: "starting", checks, received, sent };
  const write = (phase: string): void => {
    result.phase = phase;
    result.elapsedMs = Date.now() - started;
    fs.writeFileSync(`${resultFile}.tmp`, JSON.stringify(result, null, 2));
    fs.renameSync(`${resultFile}.tmp`, resultFile);
  };
  const check = (name: string, ok: boolean, detail?: string): boolean => {
    checks.push({ name, ok, detail });
    api.output.appendLine(`srag self-test: ${ok ? "ok" : "FAILED"} ${name}${detail ? `: ${detail}` : ""}`);
    return ok;
  };
  try {
    write("starting");
    await api.ready();
    const client = await until(() => (api.client()?.isRunning() ? api.client() : undefined), 60_000);
    if (!check("the server runs", client !== undefined)) {
      return;
    }
    api.received.push((s) => received.push(s));
    api.provider.feedback.onSend = (method, params) => sent.push({ method, params });

    // As a person who opens the project and starts typing once it is indexed (the status bar says so).
    const indexWait = Date.now();
    let indexState = "";
    while (Date.now() - indexWait < 120_000) {
      try {
        const s = await client!.sendRequest<Record<string, unknown>>("srag/indexStatus", {});
        indexState = String(s.state);
      } catch {
        indexState = "no answer";
      }
      if (!["starting", "indexing"].includes(indexState)) {
        break;
      }
      await sleep(250);
    }
    result.indexState = indexState;
    result.indexWaitMs = Date.now() - indexWait;

    const file = process.env.SRAG_VSCODE_SELFTEST_FILE ?? "checkout.py";
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!check("a workspace is open", folder !== undefined)) {
      return;
    }
    const uri = vscode.Uri.joinPath(folder!.uri, file);
    const doc = await vscode.workspace.openTextDocument(uri);
    const editor = await vscode.window.showTextDocument(doc, { preview: false });
    // The end of the first line that ends with "= " (an assignment left open), else the end of the file.
    let line = doc.lineCount - 1;
    for (let i = 0; i < doc.lineCount; i++) {
      if (doc.lineAt(i).text.endsWith("= ")) {
        line = i;
        break;
      }
    }
    const end = doc.lineAt(line).range.end;
    editor.selection = new vscode.Selection(end, end);
    const typed = process.env.SRAG_VSCODE_SELFTEST_TYPE ?? "apply";
    for (const ch of typed) {
      await vscode.commands.executeCommand("type", { text: ch });
      await sleep(40);
    }
    const cursor = editor.selection.active;
    const version = doc.version;
    result.typed = typed;
    result.cursor = { line: cursor.line, character: cursor.character, version };
    const textBefore = doc.getText();
    void vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
    write("typed");

    const forHere = (s: SuggestionParams): boolean =>
      s.uri === doc.uri.toString() && s.version === version
      && s.position.line === cursor.line && s.position.character === cursor.character;
    const firstDrawn = await until(() => api.drawn.find((s) => forHere(s) && s.text !== ""), 120_000);
    result.firstDrawn = firstDrawn;
    result.firstDrawnMs = Date.now() - started;
    if (!check("ghost text from the daemon was drawn", firstDrawn !== undefined)) {
      return;
    }
    check("the drawn text is what the daemon sent", received.some((s) => forHere(s) && s.id === firstDrawn!.id && s.text === firstDrawn!.text));
    write("shown");

    // Wait for the request's last notification, then for its text to be drawn (the throttle's trailing run).
    const last = await until(() => received.find((s) => forHere(s) && s.final), 180_000, 100);
    check("the daemon finished the suggestion", last !== undefined);
    try {
      const context = await client!.sendRequest<Record<string, unknown>>("srag/context", {});
      result.trace = context.trace; // why the daemon refined or not (its policy's reasons)
    } catch {
      result.trace = undefined;
    }
    const stages = [...new Set(received.filter(forHere).map((s) => s.stage))];
    result.stages = stages;
    const newest = [...received].reverse().find((s) => forHere(s) && s.text !== "");
    // On screen: the newest text, and the newest stage (a refinement that kept the text is not redrawn).
    const drawnNewest = newest === undefined ? undefined
      : await until(() => api.drawn.find((s) => s.id === newest.id && s.text === newest.text && s.stage === newest.stage), 10_000);
    check("the newest text was drawn in place", drawnNewest !== undefined,
      newest === undefined ? "nothing non-empty" : `${newest.stage}: ${JSON.stringify(newest.text)}`);
    if (stages.includes("refined")) {
      check("the refined stage is what is shown", api.drawn.some((s) => forHere(s) && s.stage === "refined" && s.text !== "")
        && sent.some((m) => m.method === "srag/didShow" && m.params.stage === "refined"));
    }
    const texts = api.drawn.filter(forHere).map((s) => `${s.stage}:${s.text}`);
    result.drawnSequence = texts;
    const redraws = api.retriggers.filter(forHere).map((s) => `${s.stage}:${s.text}`);
    result.redraws = redraws;
    check("each redraw was asked for a changed text (no flicker)", redraws.every((t, i) => i === 0 || redraws[i - 1] !== t),
      JSON.stringify(redraws));
    check("only suggestions for this version were drawn after typing",
      api.drawn.filter((s) => s.uri === doc.uri.toString() && s.version > version).length === 0);
    check("the daemon was told the suggestion was shown", sent.some((m) => m.method === "srag/didShow"));

    // Let the driver take its screenshot of the ghost text, then accept as Tab does.
    result.status = await client!.sendRequest<Record<string, unknown>>("srag/status", {});
    write("ready-to-accept");
    await until(() => (fs.existsSync(`${resultFile}.go`) ? true : undefined), 60_000, 100);
    const accepted = newest ?? firstDrawn!;
    // The driver pressed the Tab key in the browser; if the key did not reach the editor, Tab's command.
    let changed = await until(() => (doc.version !== version ? true : undefined), 3000);
    result.acceptedBy = changed ? "the Tab key" : "editor.action.inlineSuggest.commit";
    for (let attempt = 0; attempt < 3 && changed === undefined; attempt++) {
      await api.provider.settled();
      await vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
      await vscode.commands.executeCommand("editor.action.inlineSuggest.commit");
      changed = await until(() => (doc.version !== version ? true : undefined), 2000);
    }
    const offset = doc.offsetAt(cursor);
    const expected = textBefore.slice(0, offset) + accepted.text + textBefore.slice(offset);
    result.acceptedText = accepted.text;
    check("the Tab key inserted the suggestion", result.acceptedBy === "the Tab key" && doc.getText() === expected,
      changed ? String(result.acceptedBy) : "the document did not change");
    const told = await until(() => sent.find((m) => m.method === "srag/didAccept"), 3000);
    check("the daemon was told it was accepted", told !== undefined && told.params.accepted === accepted.text
      && told.params.partial === false, JSON.stringify(told?.params));
    result.documentText = doc.getText();
    await vscode.commands.executeCommand("workbench.action.files.revert");
    await partialAccept(api, editor, line, typed, received, sent, check, result);
    await restingCursor(api, editor, check, result);
    await commands(api, check, result);
  } catch (err) {
    check("no exception", false, err instanceof Error ? `${err.message}\n${err.stack ?? ""}` : String(err));
  } finally {
    result.ok = checks.length > 0 && checks.every((c) => c.ok);
    write("done");
  }
}

type CheckFn = (name: string, ok: boolean, detail?: string) => boolean;

/** The cursor jumps to another line and rests: `srag/cursor` goes out and the daemon warms the prompts there. */
async function restingCursor(api: SragApi, editor: vscode.TextEditor, check: CheckFn,
  result: Record<string, unknown>): Promise<void> {
  const client = api.client()!;
  const warmUps = async (): Promise<number> => {
    const status = await client.sendRequest<Record<string, unknown>>("srag/status", {});
    return (status.warm_ups as { runs?: number } | undefined)?.runs ?? 0;
  };
  const before = await warmUps();
  const sent = api.cursorRest.sent;
  const target = new vscode.Position(0, 0);
  editor.selection = new vscode.Selection(target, target);
  const told = await until(() => (api.cursorRest.sent > sent ? true : undefined), 10_000);
  let runs = before;
  for (let waited = 0; runs <= before && waited < 120_000; waited += 250) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    runs = await warmUps();
  }
  result.warmUps = { before, after: runs, sent: told === true };
  check("a resting cursor is sent as srag/cursor and the daemon warms there", told === true && runs > before,
    JSON.stringify(result.warmUps));
}

/** The extension's commands, as a person runs them from the command palette after the first suggestion. */
async function commands(api: SragApi, check: CheckFn, result: Record<string, unknown>): Promise<void> {
  const client = api.client()!;
  const virtual = (name: string): vscode.TextDocument | undefined =>
    vscode.workspace.textDocuments.find((d) => d.uri.scheme === "srag" && d.uri.path === `/${name}`);

  await vscode.commands.executeCommand("srag.showContext");
  const context = await until(() => virtual("context.md"), 10_000);
  check("Show Context opens the last suggestion's context", context !== undefined
    && context.getText().includes("# Context of suggestion"), context?.getText().slice(0, 200));

  await vscode.commands.executeCommand("srag.showStats");
  const stats = await until(() => virtual("stats.json"), 10_000);
  let parsed: unknown;
  try {
    parsed = stats === undefined ? undefined : JSON.parse(stats.getText());
  } catch {
    parsed = undefined;
  }
  check("Show Stats opens the daemon's stats as JSON", typeof parsed === "object" && parsed !== null);
  result.stats = parsed;

  await vscode.commands.executeCommand("srag.runDoctor");
  const doctor = await until(() => virtual("doctor.txt"), 120_000);
  check("Run Doctor opens the doctor's checks", doctor !== undefined
    && doctor.getText().includes("srag-lsp doctor") && doctor.getText().includes("llama.cpp"),
    doctor?.getText().slice(0, 300));

  await vscode.commands.executeCommand("srag.disable");
  const off = vscode.workspace.getConfiguration("srag").get<boolean>("enabled");
  await vscode.commands.executeCommand("srag.enable");
  const on = vscode.workspace.getConfiguration("srag").get<boolean>("enabled");
  check("Disable and Enable switch srag.enabled", off === false && on === true);

  await vscode.commands.executeCommand("srag.restartServer");
  const restarted = await until(() => (api.client()?.isRunning() && api.client() !== client ? api.client() : undefined), 30_000);
  check("Restart the Server starts a new daemon", restarted !== undefined);

  await vscode.commands.executeCommand("srag.reindex");
  let state = "";
  const after = await until(() => (api.client()?.isRunning() ? api.client() : undefined), 30_000);
  for (let i = 0; after !== undefined && i < 240; i++) {
    try {
      state = String((await after.sendRequest<Record<string, unknown>>("srag/indexStatus", {})).state);
    } catch {
      state = "no answer";
    }
    if (state === "ready") {
      break;
    }
    await sleep(250);
  }
  check("Reindex the Workspace ends with a ready index", state === "ready", state);
}

/**
 * Accept Next Word (VS Code's own command) on a fresh suggestion at the same place: the first word goes in, the
 * daemon hears of a partial accept of exactly that text.
 */
async function partialAccept(
  api: SragApi,
  editor: vscode.TextEditor,
  line: number,
  typed: string,
  received: SuggestionParams[],
  sent: { method: string; params: Record<string, unknown> }[],
  check: CheckFn,
  result: Record<string, unknown>,
): Promise<void> {
  const doc = editor.document;
  await vscode.window.showTextDocument(doc, { preview: false });
  const end = doc.lineAt(line).range.end;
  editor.selection = new vscode.Selection(end, end);
  for (const ch of typed) {
    await vscode.commands.executeCommand("type", { text: ch });
    await sleep(40);
  }
  const cursor = editor.selection.active;
  const version = doc.version;
  const before = doc.getText();
  void vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
  const forHere = (s: SuggestionParams): boolean => s.uri === doc.uri.toString() && s.version === version
    && s.position.line === cursor.line && s.position.character === cursor.character;
  const last = await until(() => received.find((s) => forHere(s) && s.final), 180_000, 100);
  const shown = await until(() => {
    const s = api.provider.feedback.shown;
    return s !== undefined && last !== undefined && s.id === last.id && s.text === last.text ? s : undefined;
  }, 10_000);
  if (!check("a second suggestion is shown for Accept Next Word", shown !== undefined && shown.text.length > 1)) {
    return;
  }
  // As a person would: wait until the ghost text stands still, then press the key (again if nothing happened).
  for (let attempt = 0; attempt < 3 && doc.version === version; attempt++) {
    await api.provider.settled();
    await vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
    await vscode.commands.executeCommand("editor.action.inlineSuggest.acceptNextWord");
    await until(() => (doc.version !== version ? true : undefined), 2000);
  }
  const offset = doc.offsetAt(cursor);
  const inserted = doc.getText().slice(offset, offset + doc.getText().length - before.length);
  result.partialAccepted = inserted;
  check("Accept Next Word inserted the start of the suggestion", inserted.length > 0 && inserted.length < shown!.text.length
    && shown!.text.startsWith(inserted) && doc.getText() === before.slice(0, offset) + inserted + before.slice(offset),
  JSON.stringify({ inserted, suggestion: shown!.text }));
  const told = await until(() => sent.find((m) => m.method === "srag/didAccept" && m.params.partial === true), 3000);
  check("the daemon was told of a partial accept of that text", told !== undefined && told.params.accepted === inserted
    && told.params.id === shown!.id, JSON.stringify(told?.params));
  await vscode.commands.executeCommand("workbench.action.files.revert");
}
