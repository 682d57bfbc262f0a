/** The "show context" document: the last suggestion, the chunks retrieved for it and its trace, as Markdown. Pure. */

export interface ContextChunk {
  path: string;
  symbol?: string;
  kind?: string;
  start_line?: number;
  end_line?: number;
  source?: string;
  score?: number;
  text?: string;
}

export interface ContextResult {
  id: string | null;
  uri?: string;
  text?: string;
  stage?: string;
  chunks?: ContextChunk[];
  trace?: unknown;
}

export function contextMarkdown(result: ContextResult): string {
  if (result.id === null || result.id === undefined) {
    return "# No suggestion yet\n\nType in a file: the context of the last suggestion shows here.\n";
  }
  const chunks = result.chunks ?? [];
  const lines = [
    `# Context of suggestion ${result.id} (${result.stage ?? "?"})`, "",
    `Document: ${result.uri ?? "?"}`, "",
    "## Suggestion", "", "```", result.text ?? "", "```", "",
    `## Retrieved chunks (${chunks.length})`, "",
  ];
  for (const c of chunks) {
    const range = `${(c.start_line ?? 0) + 1}-${(c.end_line ?? 0) + 1}`;
    lines.push(`### ${c.path}:${range} ${c.symbol ?? ""} (${c.source ?? "?"}, score ${(c.score ?? 0).toFixed(3)})`,
      "", "```", c.text ?? "", "```", "");
  }
  if (result.trace !== undefined) {
    lines.push("## Trace", "", "```json", JSON.stringify(result.trace, null, 2), "```", "");
  }
  return lines.join("\n");
}
