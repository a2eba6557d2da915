// Build time only: route.ts imports these `with { type: "macro" }`, so Bun runs them while it bundles
// (`bun build --compile`, and when `bun src/main.ts` loads route.ts) and inlines the strings they
// return. The compiled binary carries the console as two string constants; no files on disk.
// Bun.build cannot run inside a macro (the bundler would wait on itself), so this runs the CLI.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const CLIENT = join(import.meta.dir, "client");

/** The browser bundle of client/main.tsx (hono/jsx/dom and the console), minified. */
export function clientScript(): string {
  const r = Bun.spawnSync([process.execPath, "build", join(CLIENT, "main.tsx"), "--target=browser", "--format=esm", "--minify"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`Cannot bundle the web console '${join(CLIENT, "main.tsx")}': ${r.stderr.toString()}`);
  return r.stdout.toString();
}

export function clientStyle(): string {
  return readFileSync(join(CLIENT, "style.css"), "utf8");
}
