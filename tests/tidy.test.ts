// Keeps docs/ARCHITECTURE.md's import table true: each folder of src/ imports only what it may.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../src");

/** folder → the internal folders it may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  pkg: [],
  proto: [],
  raft: ["pkg", "proto"],
  wal: ["pkg", "proto"],
  snap: ["pkg", "proto"],
  backend: ["pkg"],
  mvcc: ["pkg", "backend", "proto"],
  lease: ["pkg", "backend", "proto"],
  "server/core": ["pkg", "proto", "raft", "wal", "snap", "backend", "mvcc", "lease"],
  "server/peer": ["pkg", "proto", "raft", "server/core"],
  "server/grpc": ["pkg", "proto", "server/core"],
  "server/http": ["pkg", "proto", "server/core"],
  "server/systemd": ["pkg"],
  // A member's life around the core (etcd's embed): config in, every server part wired.
  "server/embed.ts": ["pkg", "proto", "config", "server/core", "server/grpc", "server/http", "server/peer", "server/systemd"],
  client: ["pkg", "proto"],
  cli: ["pkg", "proto", "client"],
  config: ["pkg"],
  install: ["pkg"],
  // The proxy is a client of the cluster with a gRPC server in front: it reuses the server's HTTP/2
  // and gRPC framing (server/grpc without its services) and sd_notify, and never the server's core.
  proxy: ["pkg", "proto", "client", "config", "server/grpc", "server/systemd"],
  "main.ts": ["pkg", "entry"], // the entry point: signals first, then one mode's composition root
  entry: [], // the composition roots (etcd, etcdctl) may import anything; only main.ts imports them
};

/** Files outside src/ that the binary embeds as data (versions, the packaged unit and config). */
const ASSETS = ["package.json", "etc/etcd.conf", "systemd/etcd.service"];

function folderOf(file: string): string {
  const rel = relative(SRC, file);
  if (rel === "main.ts") return "main.ts";
  const parts = rel.split("/");
  return parts[0] === "server" ? `server/${parts[1]}` : parts[0];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.ts$/.test(name) && !/\.test\.ts$/.test(name) && !/\.d\.ts$/.test(name) ? [p] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|(?:^|\n)\s*import\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)) {
    specs.push(m[1] ?? m[2] ?? m[3]);
  }
  return specs;
}

const files = sourceFiles(SRC);

describe("import directions (docs/ARCHITECTURE.md)", () => {
  test("every source file sits in a known folder", () => {
    const unknown = files.map(folderOf).filter((f) => !(f in ALLOWED));
    expect(unknown).toEqual([]);
  });

  test("the checker sees imports (so the next test can fail)", () => {
    const core = importsOf(join(SRC, "server/core/recover.ts"));
    expect(core).toContain("../../mvcc/store.ts");
    expect(folderOf(join(SRC, "server/core/server.ts"))).toBe("server/core");
  });

  test("folders import only what the table allows", () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = folderOf(file);
      for (const spec of importsOf(file)) {
        if (spec === "bun:sqlite" && from !== "backend") violations.push(`${relative(SRC, file)} imports bun:sqlite (only backend/ may)`);
        if (!spec.startsWith(".")) continue;
        const target = resolve(dirname(file), spec);
        if (!target.startsWith(SRC)) {
          if (from !== "entry" && !ASSETS.includes(relative(resolve(SRC, ".."), target))) violations.push(`${relative(SRC, file)} imports ${spec} from outside src/`);
          continue;
        }
        const to = folderOf(target.endsWith(".ts") || target.endsWith(".js") ? target : `${target}.ts`);
        if (to === from || from === "entry") continue;
        if (to === "main.ts") violations.push(`${relative(SRC, file)} imports main.ts (nothing may)`);
        else if (to === "entry" && from !== "main.ts") violations.push(`${relative(SRC, file)} imports ${spec} (only main.ts may load a composition root)`);
        else if (!ALLOWED[from].includes(to)) violations.push(`${relative(SRC, file)} (${from}) imports ${spec} (${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  test("the proxy reaches no server/core file, not even through server/grpc", () => {
    const seen = new Set<string>();
    const reached: string[] = [];
    const visit = (file: string, via: string[]) => {
      if (seen.has(file)) return;
      seen.add(file);
      if (folderOf(file) === "server/core") reached.push([...via, relative(SRC, file)].join(" -> "));
      for (const spec of importsOf(file)) {
        if (!spec.startsWith(".")) continue;
        let target = resolve(dirname(file), spec);
        if (!target.startsWith(SRC) || target.endsWith(".js")) continue;
        if (!target.endsWith(".ts")) target += ".ts";
        visit(target, [...via, relative(SRC, file)]);
      }
    };
    const proxyFiles = files.filter((f) => folderOf(f) === "proxy");
    expect(proxyFiles.length).toBeGreaterThan(0);
    for (const f of proxyFiles) visit(f, []);
    // The walk sees through server/grpc (so a services.ts import would be caught).
    expect([...seen].some((f) => relative(SRC, f).startsWith("server/grpc/"))).toBe(true);
    expect(reached).toEqual([]);
  });

  test("the Raft core is pure: no I/O, timers, clock or global randomness", () => {
    const impure: string[] = [];
    for (const file of files.filter((f) => folderOf(f) === "raft")) {
      const text = readFileSync(file, "utf8");
      for (const spec of importsOf(file)) if (/^(node:|bun:|bun$)/.test(spec)) impure.push(`${relative(SRC, file)} imports ${spec}`);
      for (const word of ["Date.now", "new Date", "Math.random", "setTimeout", "setInterval", "performance.now", "process."]) {
        if (text.includes(word)) impure.push(`${relative(SRC, file)} uses ${word}`);
      }
    }
    expect(impure).toEqual([]);
  });
});
