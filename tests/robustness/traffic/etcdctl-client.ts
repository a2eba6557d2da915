// A traffic client that is the real etcdctl (Debian's 3.4): put, get and del with `-w json`, so its
// calls join the history with their header revisions like any other client's. Slow (a process per
// call), so it adds a few calls a second — what it proves is that a user's shell loop sees the same
// guarantees.
import { spawn } from "node:child_process";
import type { KeyValue, KvCall, KvRequest } from "../history.ts";

interface JsonKv {
  key: string;
  value?: string;
  create_revision?: number;
  mod_revision?: number;
  version?: number;
  lease?: number | string;
}

const b64 = (s: string | undefined) => (s ? Buffer.from(s, "base64").toString("latin1") : "");

function toKv(kv: JsonKv): KeyValue {
  return {
    key: b64(kv.key),
    value: b64(kv.value),
    createRevision: kv.create_revision ?? 0,
    modRevision: kv.mod_revision ?? 0,
    version: kv.version ?? 0,
    lease: String(kv.lease ?? 0),
  };
}

/** etcdctl -w json prints 64-bit numbers bare: keep the big ones (ids) exact as strings. */
const parseExact = (text: string) => JSON.parse(text.replace(/(:\s*)(\d{16,})/g, '$1"$2"'));

function exec(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn("etcdctl", args, { env: { ...process.env, ETCDCTL_API: "3" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    const t = setTimeout(() => p.kill("SIGKILL"), timeoutMs + 2000);
    p.on("close", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export class EtcdctlClient {
  constructor(
    readonly client: number,
    readonly endpoints: string[],
    readonly home: number,
    readonly now: () => number,
    readonly sink: KvCall[],
    readonly timeoutMs: number,
  ) {}

  /** One etcdctl call, recorded; the request is a put, a single-key get or a single-key delete. */
  async do(request: Extract<KvRequest, { kind: "put" | "range" | "delete" }>): Promise<KvCall> {
    const ordered = this.endpoints.map((_, j) => this.endpoints[(this.home + j) % this.endpoints.length]);
    const base = ["--endpoints", ordered.join(","), "--dial-timeout", "1s", "--command-timeout", `${Math.ceil(this.timeoutMs / 1000)}s`, "-w", "json"];
    const args =
      request.kind === "put"
        ? ["put", request.key, request.value]
        : request.kind === "range"
          ? ["get", request.key, ...(request.serializable ? ["--consistency=s"] : [])]
          : ["del", request.key];
    const call = this.now();
    const r = await exec([...base, ...args], this.timeoutMs);
    const rec: KvCall = { client: this.client, member: this.home, request, call, ret: this.now(), outcome: "unknown" };
    if (r.code === 0) {
      const out = parseExact(r.stdout);
      rec.outcome = "ok";
      rec.revision = Number(out.header?.revision ?? 0);
      if (request.kind === "put") rec.response = { kind: "put" };
      else if (request.kind === "delete") rec.response = { kind: "delete", deleted: Number(out.deleted ?? 0) };
      else {
        const kvs = ((out.kvs ?? []) as JsonKv[]).map(toKv);
        const count = Number(out.count ?? 0);
        rec.response = { kind: "range", kvs, count, more: out.more === true };
      }
    } else {
      // A put or del that failed on a timeout or a lost connection may have been applied.
      rec.error = r.stderr.trim().split("\n").pop() ?? `etcdctl exited ${r.code}`;
      rec.outcome = request.kind === "range" ? "failed" : "unknown";
    }
    this.sink.push(rec);
    return rec;
  }
}
