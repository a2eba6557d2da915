// Differential runs of etcdctl: the same arguments through the real etcdctl 3.4 and through our
// `etcd ctl`, against the same server, so a test compares what a user would see from each.
import { spawnSync } from "node:child_process";
import { BINARY, type Member } from "./harness.ts";

export interface CtlRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface CtlOptions {
  input?: string;
  env?: Record<string, string>;
  /** Endpoints instead of the member's (a list, or a dead address). */
  endpoints?: string;
  timeoutMs?: number;
}

function run(command: string, prefix: string[], m: Member | null, args: string[], opts: CtlOptions): CtlRun {
  const endpoints = opts.endpoints ?? m?.endpoint;
  const r = spawnSync(command, [...prefix, ...(endpoints ? ["--endpoints", endpoints] : []), ...args], {
    encoding: "utf8",
    input: opts.input,
    env: { ...process.env, ETCDCTL_API: "3", ...opts.env },
    timeout: opts.timeoutMs ?? 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The real etcdctl (Debian's etcd-client 3.4). */
export function realCtl(m: Member | null, args: string[], opts: CtlOptions = {}): CtlRun {
  return run("etcdctl", [], m, args, opts);
}

/** Our etcdctl: `dist/etcd ctl …`. */
export function ourCtl(m: Member | null, args: string[], opts: CtlOptions = {}): CtlRun {
  return run(BINARY, ["ctl"], m, args, opts);
}

/** clientv3's retry warnings (JSON lines with timestamps) are logging, not output: dropped from stderr. */
export function errorLines(stderr: string): string {
  return stderr
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith('{"level":'))
    .join("\n");
}
