/**
 * Tells the daemon where the cursor rests (`srag/cursor`) after a jump, a click or a new editor, so that it warms
 * the prompts there (the draft's and the context-aware one) before the first key. Moves that come with an edit
 * (typing) are not sent: the inline requests cover them; an edit that moved no cursor (Revert File) does not make the
 * next jump look like typing. The sender is injected.
 */

import * as vscode from "vscode";

export const CURSOR_NOTIFICATION = "srag/cursor";
const REST_MS = 120; // the cursor must stay put this long
// An edit's own cursor move comes in the same tick as the edit. An edit with none (Revert File, an edit elsewhere)
// is adopted after this long, so that the next move is not taken for typing's.
const EDIT_MOVE_MS = 50;

export type Send = (method: string, params: Record<string, unknown>) => void;

export class CursorRest implements vscode.Disposable {
  sent = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The document version at each document's last cursor move: a move that comes with a new version is typing's. */
  private readonly versions = new Map<string, number>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly send: Send, private readonly enabled: () => boolean) {
    this.disposables.push(
      vscode.window.onDidChangeTextEditorSelection((e) => this.moved(e.textEditor)),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor !== undefined) {
          this.moved(editor);
        }
      }),
      vscode.workspace.onDidChangeTextDocument((e) => this.edited(e.document)),
      vscode.workspace.onDidCloseTextDocument((d) => this.versions.delete(d.uri.toString())),
    );
  }

  private edited(document: vscode.TextDocument): void {
    const uri = document.uri.toString();
    const version = document.version;
    setTimeout(() => {
      if (this.versions.has(uri) && this.versions.get(uri) !== version && document.version === version) {
        this.versions.set(uri, version); // no cursor move came with this edit
      }
    }, EDIT_MOVE_MS);
  }

  private moved(editor: vscode.TextEditor): void {
    const uri = editor.document.uri.toString();
    const version = editor.document.version;
    const last = this.versions.get(uri);
    this.versions.set(uri, version);
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (last !== undefined && last !== version) {
      return; // the cursor moved with an edit: typing, which asks for completions itself
    }
    this.timer = setTimeout(() => this.rested(editor), REST_MS);
  }

  private rested(editor: vscode.TextEditor): void {
    this.timer = undefined;
    const active = vscode.window.activeTextEditor;
    if (!this.enabled() || active === undefined || active.document !== editor.document
        || editor.selections.length !== 1 || !editor.selection.isEmpty) {
      return;
    }
    const p = editor.selection.active;
    this.send(CURSOR_NOTIFICATION, {
      textDocument: { uri: editor.document.uri.toString() },
      position: { line: p.line, character: p.character },
    });
    this.sent += 1;
  }

  dispose(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}
