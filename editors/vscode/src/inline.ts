/**
 * Ghost text: an InlineCompletionItemProvider that answers from the newest `srag/suggestion` for the active
 * document version and cursor, asks the daemon (`textDocument/inlineCompletion`) when nothing is held yet, and
 * re-triggers VS Code's inline suggestion (throttled) as streamed text grows or is refined.
 */

import * as vscode from "vscode";
import { InlineCompletionRequest, InlineCompletionTriggerKind } from "vscode-languageclient/node";
import type { LanguageClient } from "vscode-languageclient/node";
import { Feedback } from "./feedback";
import { type Cursor, type SuggestionParams, SuggestionStore } from "./suggestions";
import { Throttle } from "./throttle";

export const ACCEPTED_COMMAND = "srag._accepted";

export interface InlineEvents {
  /** A first non-empty character for a request arrived this long after it was sent. */
  firstCharacter(ms: number): void;
  /** A suggestion was handed to VS Code (for the self-test and the log). */
  drawn(s: SuggestionParams): void;
  /** VS Code was asked to fetch again because this newer text arrived. */
  retriggered(s: SuggestionParams): void;
  log(message: string): void;
}

function cursorOf(document: vscode.TextDocument, position: vscode.Position): Cursor {
  return {
    uri: document.uri.toString(),
    version: document.version,
    position: { line: position.line, character: position.character },
  };
}

function key(c: Cursor): string {
  return `${c.uri}\u0000${c.version}\u0000${c.position.line}:${c.position.character}`;
}

export class StreamingInlineProvider implements vscode.InlineCompletionItemProvider, vscode.Disposable {
  readonly store = new SuggestionStore();
  readonly feedback: Feedback;
  private readonly throttle: Throttle;
  private readonly inflight = new Map<string, Promise<string | undefined>>();
  private readonly sentAt = new Map<string, number>();
  private lastDrawn: { key: string; id: string; text: string } | undefined;
  private redrawing: Promise<void> = Promise.resolve();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly client: () => LanguageClient | undefined,
    private readonly enabled: () => boolean,
    throttleMs: () => number,
    private readonly events: InlineEvents,
  ) {
    this.feedback = new Feedback((method, params) => {
      const c = this.client();
      if (c !== undefined && c.isRunning()) {
        void c.sendNotification(method, params).catch(() => undefined);
      }
    });
    this.throttle = new Throttle(() => this.retrigger(), throttleMs);
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.onDocumentChanged(e)),
      vscode.window.onDidChangeTextEditorSelection((e) => this.onSelectionChanged(e)),
      vscode.window.onDidChangeActiveTextEditor(() => this.feedback.dismiss()),
      vscode.workspace.onDidCloseTextDocument((d) => this.store.forget(d.uri.toString())),
    );
  }

  /** The active editor's cursor, when it has exactly one empty selection. */
  activeCursor(): Cursor | undefined {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined || editor.selections.length !== 1 || !editor.selection.isEmpty) {
      return undefined;
    }
    return cursorOf(editor.document, editor.selection.active);
  }

  /** A `srag/suggestion` notification from the daemon. */
  onSuggestion(s: SuggestionParams): void {
    const active = this.activeCursor();
    const k = key({ uri: s.uri, version: s.version, position: s.position });
    const sent = this.sentAt.get(k);
    if (sent !== undefined && s.text !== "") {
      this.sentAt.delete(k);
      this.events.firstCharacter(Date.now() - sent);
    }
    const verdict = this.store.accept(s, active);
    const shown = this.feedback.shown;
    if (verdict === "unchanged" && shown !== undefined && shown.id === s.id && shown.text === s.text && shown.stage !== s.stage) {
      // A refinement that kept the text: nothing to redraw, but what is on screen is now the refined suggestion.
      this.feedback.didShow({ ...shown, stage: s.stage });
      this.events.drawn(s);
      return;
    }
    if (verdict !== "redraw" || !this.enabled() || s.text === "") {
      return;
    }
    if (this.lastDrawn !== undefined && this.lastDrawn.key === k && this.lastDrawn.text === s.text) {
      return; // the same text is on screen already: no redraw, no flicker
    }
    this.throttle.request();
  }

  private retrigger(): void {
    const active = this.activeCursor();
    const newest = active === undefined ? undefined : this.store.lookup(active);
    if (newest === undefined || newest.text === "") {
      return;
    }
    const k = key({ uri: newest.uri, version: newest.version, position: newest.position });
    if (this.lastDrawn !== undefined && this.lastDrawn.key === k && this.lastDrawn.text === newest.text) {
      return; // already on screen
    }
    this.events.retriggered(newest);
    this.events.log(`re-trigger for ${newest.id} ${newest.stage} ${JSON.stringify(newest.text)}`);
    // VS Code does not fetch again for a version and position it has an explicit answer for (its request
    // "satisfies" check), and stable VS Code has no way for a provider to push a new item. So the shown item is
    // hidden and an explicit fetch follows at once; the provider answers it from the store without a round trip
    // to the daemon.
    // While it runs, the context key `srag.redrawing` sends Tab to `srag.acceptAfterRedraw` (package.json), so a
    // Tab pressed in that moment accepts the new text instead of indenting.
    const run = async (): Promise<void> => {
      await vscode.commands.executeCommand("setContext", "srag.redrawing", true);
      try {
        await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
        await vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
      } finally {
        await vscode.commands.executeCommand("setContext", "srag.redrawing", false);
      }
    };
    this.redrawing = run().then(undefined, (err: unknown) => this.events.log(`re-trigger failed: ${String(err)}`));
  }

  /** Tab pressed while a redraw ran: accept what is shown once it stands still, else indent as Tab does. */
  async acceptAfterRedraw(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const version = editor?.document.version;
    await this.settled();
    await vscode.commands.executeCommand("editor.action.inlineSuggest.commit");
    if (editor !== undefined && editor.document.version === version) {
      await vscode.commands.executeCommand("tab");
    }
  }

  /** Resolves once no redraw is due or running (Tab during a redraw, and the self-test, wait for it). */
  async settled(): Promise<void> {
    for (;;) {
      await this.redrawing;
      if (!this.throttle.pending) {
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    if (!this.enabled()) {
      return undefined;
    }
    const cursor = cursorOf(document, position);
    this.events.log(`provide ${cursor.version} ${cursor.position.line}:${cursor.position.character} kind ${context.triggerKind}`);
    const held = this.store.lookup(cursor);
    if (held !== undefined && held.text !== "") {
      return this.itemFor(held, position);
    }
    const client = this.client();
    if (client === undefined || !client.isRunning()) {
      return undefined;
    }
    const k = key(cursor);
    let pending = this.inflight.get(k);
    if (pending === undefined) {
      // Not tied to VS Code's token: a re-trigger cancels this call, but the daemon keeps streaming for this
      // cursor until the document changes (it supersedes the request itself on didChange).
      this.sentAt.set(k, Date.now());
      pending = this.request(client, document, position, context);
      this.inflight.set(k, pending);
      void pending.finally(() => this.inflight.delete(k));
    }
    const text = await Promise.race([
      pending,
      new Promise<undefined>((resolve) => token.onCancellationRequested(() => resolve(undefined))),
    ]);
    if (token.isCancellationRequested || document.version !== cursor.version) {
      return undefined;
    }
    const newest = this.store.lookup(cursor);
    if (newest !== undefined && newest.text !== "") {
      return this.itemFor(newest, position);
    }
    if (text === undefined || text === "") {
      return undefined;
    }
    // A daemon that does not stream (or a client that missed the notifications): its answer as it is.
    return this.itemFor(
      { uri: cursor.uri, version: cursor.version, position: cursor.position, id: "", text, stage: "draft", done: true, final: true },
      position,
    );
  }

  private async request(
    client: LanguageClient,
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
  ): Promise<string | undefined> {
    try {
      const result = await client.sendRequest(InlineCompletionRequest.type, {
        textDocument: { uri: document.uri.toString() },
        position: { line: position.line, character: position.character },
        context: {
          triggerKind:
            context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke
              ? InlineCompletionTriggerKind.Invoked
              : InlineCompletionTriggerKind.Automatic,
        },
      });
      const items = result === null ? [] : Array.isArray(result) ? result : result.items;
      const first = items[0];
      if (first === undefined) {
        return undefined;
      }
      return typeof first.insertText === "string" ? first.insertText : first.insertText.value;
    } catch (err) {
      client.debug(`inline completion failed: ${String(err)}`);
      return undefined;
    }
  }

  private itemFor(s: SuggestionParams, position: vscode.Position): vscode.InlineCompletionItem[] {
    const k = key({ uri: s.uri, version: s.version, position: s.position });
    this.lastDrawn = { key: k, id: s.id, text: s.text };
    if (s.id !== "") {
      this.feedback.didShow({ id: s.id, uri: s.uri, stage: s.stage, text: s.text, version: s.version, position: s.position });
    }
    this.events.drawn(s);
    const item = new vscode.InlineCompletionItem(s.text, new vscode.Range(position, position), {
      command: ACCEPTED_COMMAND,
      title: "srag-lsp: accepted",
      arguments: [s.id],
    });
    return [item];
  }

  private onDocumentChanged(e: vscode.TextDocumentChangeEvent): void {
    const uri = e.document.uri.toString();
    this.store.documentChanged(uri, e.document.version);
    const change = e.contentChanges[0];
    if (change !== undefined && e.contentChanges.length === 1) {
      this.feedback.documentChanged(
        uri,
        { line: change.range.start.line, character: change.range.start.character },
        change.rangeLength,
        change.text,
      );
    } else if (e.contentChanges.length > 1 && this.feedback.shown?.uri === uri) {
      this.feedback.dismiss();
    }
  }

  private onSelectionChanged(e: vscode.TextEditorSelectionChangeEvent): void {
    const shown = this.feedback.shown;
    if (shown === undefined || e.textEditor.document.uri.toString() !== shown.uri) {
      return;
    }
    if (e.textEditor.document.version !== shown.version) {
      return; // typing moved the cursor: onDocumentChanged decided already
    }
    const sel = e.selections[0];
    if (e.selections.length !== 1 || sel === undefined || !sel.isEmpty
        || sel.active.line !== shown.position.line || sel.active.character !== shown.position.character) {
      this.feedback.dismiss();
    }
  }

  /** Suggestions were turned off or the server restarted: drop everything held. */
  reset(): void {
    this.feedback.dismiss();
    this.throttle.cancel();
    this.store.clear();
    this.inflight.clear();
    this.sentAt.clear();
    this.lastDrawn = undefined;
  }

  dispose(): void {
    this.throttle.cancel();
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}
