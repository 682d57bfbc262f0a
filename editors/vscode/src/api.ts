/** What the extension hands back from `activate`: its parts, for the end-to-end self-test and other extensions. */

import type * as vscode from "vscode";
import type { SragClient } from "./client";
import type { CursorRest } from "./cursorRest";
import type { StreamingInlineProvider } from "./inline";
import type { SuggestionParams } from "./suggestions";

export interface SragApi {
  provider: StreamingInlineProvider;
  /** Sends `srag/cursor` when the cursor rests (its `sent` count is for the self-test). */
  cursorRest: CursorRest;
  client(): SragClient | undefined;
  ready(): Promise<void>;
  drawn: SuggestionParams[];
  /** The texts for which VS Code was asked to redraw, in order. */
  retriggers: SuggestionParams[];
  /** Every `srag/suggestion` the extension received, in order (listeners for the self-test). */
  received: ((s: SuggestionParams) => void)[];
  output: vscode.LogOutputChannel;
}
