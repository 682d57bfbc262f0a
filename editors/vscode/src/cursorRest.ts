/**
 * Tells the daemon where the cursor rests (`srag/cursor`) after a jump, a click or a new editor, so that it warms
 * the prompts there (the draft's and the context-aware one) before the first key. Moves that typing makes are not
 * sent: the inline requests cover them. Pure timing and filtering: the sender is injected.
 */

import * as vscode from "vscode";

export const CURSOR_NOTIFICATION = "srag/cursor";
const REST_MS = 120; // the cursor must stay put this long
const TYPING_MS = 50; // a selection change this soon after an edit of the same document is the edit's own move

export type Send = (method: string, params: Record<string, unknown>) => void;

export class CursorRest implements vscode.Disposable {
  sent = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly editedAt = new Map<string, number>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly send: Send, private readonly enabled: () => boolean) {
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.editedAt.set(e.document.uri.toString(), Date.now())),
      vscode.window.onDidChangeTextEditorSelection((e) => this.moved(e.textEditor)),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor !== undefined) {
          this.moved(editor);
        }
      }),
      vscode.workspace.onDidCloseTextDocument((d) => this.editedAt.delete(d.uri.toString())),
    );
  }

  private moved(editor: vscode.TextEditor): void {
    const uri = editor.document.uri.toString();
    if (Date.now() - (this.editedAt.get(uri) ?? 0) < TYPING_MS) {
      return;
    }
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => this.rested(editor), REST_MS);
  }

  private rested(editor: vscode.TextEditor): void {
    this.timer = undefined;
    const active = vscode.window.activeTextEditor;
    if (!this.enabled() || active !== editor || editor.selections.length !== 1 || !editor.selection.isEmpty) {
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
