import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "bun:test";
import { ConfigError } from "./errors";
import { loadConfig } from "./load";
import type { Config } from "./types";

// Shared by the *.test.ts files beside it; not part of the module's API.

let dir: string | undefined;
let counter = 0;

/** Writes a config file into a fresh temp path and returns the path. */
export function writeConfig(content: string, name = "etcd.conf"): string {
  dir ??= mkdtempSync(join(tmpdir(), "etcd-ts-config-"));
  const path = join(dir, `${++counter}-${name}`);
  writeFileSync(path, content);
  return path;
}

/** For afterAll in each test file that writes configs. */
export function removeConfigs(): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}

/** loadConfig that must produce a runnable config. */
export function load(argv: string[], env: Record<string, string | undefined> = {}): Config {
  const result = loadConfig(argv, env);
  if (result.kind !== "run") throw new Error(`expected a run config, got ${result.kind}`);
  return result.config;
}

/** Runs fn, asserts it throws a ConfigError, and returns it for closer checks. */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, but nothing was thrown");
}
