/**
 * The newest streamed suggestion per document, matched to the editor's version and cursor: stale ones are dropped.
 *
 * Pure (no `vscode` import) so the rules are unit-tested: a `srag/suggestion` counts only for the document
 * version and position it was made for, a newer request replaces an older one, and a suggestion whose text did
 * not change does not ask for a redraw.
 */

export interface Position {
  line: number;
  character: number;
}

/** The `srag/suggestion` notification's params (the daemon's contract). */
export interface SuggestionParams {
  uri: string;
  version: number;
  position: Position;
  id: string;
  text: string;
  stage: string; // "draft" | "refined"
  done: boolean;
  final: boolean;
}

/** Where the editor is: the document, its version and the cursor. */
export interface Cursor {
  uri: string;
  version: number;
  position: Position;
}

/** What `accept` decided about a notification. */
export type Verdict =
  | "redraw" // newest text for the active cursor changed: re-trigger the inline suggestion
  | "unchanged" // same text as already held (a stage or done flag may differ): nothing to redraw
  | "stored" // kept for its document, but it is not where the editor is now
  | "stale"; // older than what is held, or for an older version: dropped

export function samePosition(a: Position, b: Position): boolean {
  return a.line === b.line && a.character === b.character;
}

export function matches(s: SuggestionParams, cursor: Cursor): boolean {
  return s.uri === cursor.uri && s.version === cursor.version && samePosition(s.position, cursor.position);
}

/** The numeric part of an id such as "s12": ids grow with each request the daemon gets. */
export function idOrder(id: string): number {
  const m = /(\d+)$/.exec(id);
  return m ? Number(m[1]) : Number.NaN;
}

export class SuggestionStore {
  private readonly byUri = new Map<string, SuggestionParams>();

  /** Take a notification; `active` is where the editor's cursor is (undefined when no editor has focus). */
  accept(s: SuggestionParams, active: Cursor | undefined): Verdict {
    const held = this.byUri.get(s.uri);
    if (held !== undefined && held.id !== s.id) {
      if (s.version < held.version) {
        return "stale";
      }
      const a = idOrder(s.id);
      const b = idOrder(held.id);
      if (s.version === held.version && !Number.isNaN(a) && !Number.isNaN(b) && a < b) {
        return "stale";
      }
    }
    if (active !== undefined && active.uri === s.uri && s.version < active.version) {
      return "stale";
    }
    const sameText = held !== undefined && held.id === s.id && held.text === s.text;
    this.byUri.set(s.uri, s);
    if (active === undefined || !matches(s, active)) {
      return "stored";
    }
    return sameText ? "unchanged" : "redraw";
  }

  /** The newest suggestion for exactly this cursor, if any. */
  lookup(cursor: Cursor): SuggestionParams | undefined {
    const s = this.byUri.get(cursor.uri);
    return s !== undefined && matches(s, cursor) ? s : undefined;
  }

  /** The newest suggestion held for a document, whatever its position. */
  latest(uri: string): SuggestionParams | undefined {
    return this.byUri.get(uri);
  }

  /** The document changed: what was held for an older version can never be shown again. */
  documentChanged(uri: string, version: number): void {
    const s = this.byUri.get(uri);
    if (s !== undefined && s.version < version) {
      this.byUri.delete(uri);
    }
  }

  forget(uri: string): void {
    this.byUri.delete(uri);
  }

  clear(): void {
    this.byUri.clear();
  }
}
