/**
 * Tells the daemon what became of each suggestion: `srag/didShow` when drawn, `srag/didAccept` (whole or partial)
 * and `srag/didDismiss`, each at most once per suggestion (and stage, for shows). Pure: the sender is injected.
 */

import type { Position } from "./suggestions";

export interface Shown {
  id: string;
  uri: string;
  stage: string;
  text: string;
  version: number;
  position: Position;
}

export type Send = (method: string, params: Record<string, unknown>) => void;

export class Feedback {
  private current: Shown | undefined;
  private readonly showsSent = new Set<string>();
  private readonly ended = new Set<string>();

  /** Also told of every notification sent (the self-test listens here). */
  onSend: Send | undefined;

  constructor(private readonly sender: Send) {}

  private send(method: string, params: Record<string, unknown>): void {
    this.onSend?.(method, params);
    this.sender(method, params);
  }

  /** The suggestion on screen now (undefined: none). */
  get shown(): Shown | undefined {
    return this.current;
  }

  /** A suggestion was handed to VS Code to draw. */
  didShow(s: Shown): void {
    if (this.current !== undefined && this.current.id !== s.id) {
      this.dismiss();
    }
    this.current = s;
    const key = `${s.id}\u0000${s.stage}`;
    if (!this.showsSent.has(key)) {
      this.showsSent.add(key);
      this.send("srag/didShow", { id: s.id, uri: s.uri, stage: s.stage, text: s.text });
    }
  }

  /** Tab (the item's command): the whole text went in. */
  didAcceptWhole(id: string): void {
    const s = this.current;
    if (s === undefined || s.id !== id || this.ended.has(id)) {
      return;
    }
    this.ended.add(id);
    this.current = undefined;
    this.send("srag/didAccept", { id, uri: s.uri, stage: s.stage, text: s.text, accepted: s.text, partial: false });
  }

  /**
   * The document changed while a suggestion was shown. An insertion at its position of a strict prefix of its text,
   * two characters or more, is an accept-word or accept-line (VS Code's own commands); anything else dismisses it.
   * Returns what was decided.
   */
  documentChanged(uri: string, at: Position, removed: number, inserted: string): "partial" | "whole" | "dismissed" | "none" {
    const s = this.current;
    if (s === undefined || s.uri !== uri) {
      return "none";
    }
    const here = at.line === s.position.line && at.character === s.position.character;
    if (here && removed === 0 && inserted === s.text) {
      return "whole"; // the command that follows sends didAccept
    }
    if (here && removed === 0 && inserted.length >= 2 && s.text.startsWith(inserted)) {
      this.ended.add(s.id);
      this.current = undefined;
      this.send("srag/didAccept", { id: s.id, uri: s.uri, stage: s.stage, text: s.text, accepted: inserted, partial: true });
      return "partial";
    }
    this.dismiss();
    return "dismissed";
  }

  /** The suggestion went away without being accepted (cursor moved, editor changed, Escape, disabled). */
  dismiss(): void {
    const s = this.current;
    this.current = undefined;
    if (s === undefined || this.ended.has(s.id)) {
      return;
    }
    this.ended.add(s.id);
    this.send("srag/didDismiss", { id: s.id, uri: s.uri, stage: s.stage });
  }
}
