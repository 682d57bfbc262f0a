/** The status bar's words: backend and model, indexing progress, the last time to first character. Pure. */

export interface StatusState {
  enabled: boolean;
  running: boolean;
  backend?: string;
  model?: string;
  server?: string;
  sharedIndex?: string;
  refineModel?: string;
  backendError?: string;
  indexing?: { title: string; percentage?: number; message?: string };
  lastFirstCharMs?: number;
  error?: string;
}

export function statusText(s: StatusState): string {
  if (s.error !== undefined) {
    return "$(error) srag";
  }
  if (!s.running) {
    return "$(loading~spin) srag";
  }
  const parts: string[] = [s.enabled ? "$(sparkle) srag" : "$(circle-slash) srag"];
  if (s.backend !== undefined) {
    parts.push(s.model !== undefined ? `${s.backend}: ${s.model}` : s.backend);
  } else if (s.backendError !== undefined) {
    parts.push("no model");
  } else {
    parts.push("loading model");
  }
  if (s.indexing !== undefined) {
    parts.push(s.indexing.percentage !== undefined ? `indexing ${Math.round(s.indexing.percentage)}%` : "indexing");
  }
  if (s.lastFirstCharMs !== undefined) {
    parts.push(`${Math.round(s.lastFirstCharMs)} ms`);
  }
  return parts.join(" · ");
}

export function statusTooltip(s: StatusState): string {
  const lines = ["srag-lsp (click for the log)"];
  if (s.error !== undefined) {
    lines.push(`Error: ${s.error}`);
  }
  lines.push(`Suggestions: ${s.enabled ? "on" : "off"}`);
  if (s.backend !== undefined) {
    lines.push(`Backend: ${s.backend}`, `Model: ${s.model ?? "?"}`);
    if (s.server !== undefined) {
      lines.push(`Server: ${s.server}`);
    }
    if (s.refineModel !== undefined && s.refineModel !== s.model) {
      lines.push(`Refine model: ${s.refineModel}`);
    }
  }
  if (s.sharedIndex !== undefined) {
    lines.push(`Shared index: ${s.sharedIndex}`);
  }
  if (s.backendError !== undefined) {
    lines.push(`Backend problem: ${s.backendError}`);
  }
  if (s.indexing !== undefined) {
    lines.push(`Indexing: ${s.indexing.title}${s.indexing.message ? ` (${s.indexing.message})` : ""}`);
  }
  if (s.lastFirstCharMs !== undefined) {
    lines.push(`Last time to first character: ${Math.round(s.lastFirstCharMs)} ms`);
  }
  return lines.join("\n");
}
