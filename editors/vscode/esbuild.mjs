// Bundles the extension (out/extension.js) and, with --tests, the tests (out/test/**) with esbuild.
import { build } from "esbuild";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const production = process.argv.includes("--production");
const tests = process.argv.includes("--tests");

const common = { bundle: true, platform: "node", target: "node20", format: "cjs", sourcemap: !production, logLevel: "warning" };

if (tests) {
  const entries = [
    ...readdirSync("test/unit").filter((f) => f.endsWith(".test.ts")).map((f) => join("test/unit", f)),
    "test/protocol.test.ts",
    "test/e2e/run.ts",
  ];
  await build({ ...common, entryPoints: entries, outdir: "out/test", outbase: "test", external: ["vscode", "playwright-core"] });
} else {
  await build({
    ...common,
    entryPoints: ["src/extension.ts"],
    outfile: "out/extension.js",
    external: ["vscode"],
    minify: production,
    keepNames: true,
  });
}
