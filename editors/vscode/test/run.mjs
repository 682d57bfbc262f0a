// Runs node's test runner on the given files and folders (a folder: its *.test.js files), one file at a time.
// Node 20 takes folders but not globs, Node 22+ globs but not folders: this works on both.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const files = process.argv.slice(2).flatMap((arg) =>
  statSync(arg).isDirectory()
    ? readdirSync(arg).filter((f) => f.endsWith(".test.js")).sort().map((f) => join(arg, f))
    : [arg]);
const done = spawnSync(process.execPath, ["--test", "--test-concurrency=1", ...files], { stdio: "inherit" });
process.exit(done.status ?? 1);
