/**
 * What a command gets to work with: the global settings, clients (made on first use), a deadline
 * per request (--command-timeout), output streams and stdin. Tests build one with fake streams.
 */
import { Client } from "../client/index.ts";
import { CliError, ExitCode } from "./errors.ts";
import type { Globals } from "./global.ts";

export interface Io {
  /** Writes to stdout (bytes are written as they are). */
  out(text: string | Uint8Array): void;
  err(text: string): void;
  /** All of stdin. */
  readStdin(): Promise<Buffer>;
  /** Lines of stdin, one at a time (interactive txn); null at the end. */
  readLine(): Promise<string | null>;
  readonly stdoutIsTTY: boolean;
  readonly stdinIsTTY: boolean;
  /** Progress bars (snapshot save/restore) are drawn only on a terminal. */
  readonly stderrIsTTY?: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Work only the server binary can do on a data directory (etcdutl's part): main.ts provides it. */
export interface OfflineTools {
  restoreSnapshot?(opts: RestoreOptions): Promise<RestoreSummary | void>;
  /** `snapshot status`: etcd's hash, revision, total keys and size of a snapshot file. */
  snapshotStatus?(path: string): Promise<SnapshotStatus>;
}

/** etcd's snapshot.Status. */
export interface SnapshotStatus {
  hash: number;
  revision: bigint;
  totalKey: number;
  totalSize: number;
}

/** What a restore made, for the line that tells how to start it. */
export interface RestoreSummary {
  memberId: bigint;
  clusterId: bigint;
  revision: bigint;
}

export interface RestoreOptions {
  snapshotPath: string;
  dataDir: string;
  walDir: string;
  name: string;
  initialCluster: string;
  initialClusterToken: string;
  initialAdvertisePeerUrls: string[];
  skipHashCheck: boolean;
  /** Progress for long work: bytes done of total. */
  progress(done: number, total: number): void;
}

export class Ctx {
  readonly #clients: Client[] = [];
  #main: Client | null = null;

  constructor(
    readonly globals: Globals,
    readonly io: Io,
    readonly offline: OfflineTools = {},
  ) {}

  /** The client for --endpoints (failover across them). */
  client(): Client {
    if (!this.#main) this.#main = this.clientFor(this.globals.endpoints);
    return this.#main;
  }

  /** A client for particular endpoints (endpoint health/status --cluster asks each member). */
  clientFor(endpoints: string[]): Client {
    const g = this.globals;
    if (g.cert || g.key || g.cacert || !g.insecureTransport) {
      throw new CliError(ExitCode.BadArgs, "TLS (--cert, --key, --cacert, --insecure-transport=false) arrives with the security issue; connect over http:// meanwhile");
    }
    if (g.user) {
      throw new CliError(ExitCode.BadArgs, "--user: authentication arrives with the security issue; leave --user out meanwhile");
    }
    for (const e of endpoints) {
      if (e.startsWith("https://")) throw new CliError(ExitCode.BadArgs, `--endpoints ${e}: TLS arrives with the security issue; use http:// meanwhile`);
    }
    // --command-timeout is applied per request (requestOpts), as etcdctl's context per command.
    const c = new Client({
      endpoints,
      dialTimeoutMs: g.dialTimeoutMs,
      requestTimeoutMs: 0,
      keepAliveTimeMs: g.keepAliveTimeMs,
      keepAliveTimeoutMs: g.keepAliveTimeoutMs,
    });
    this.#clients.push(c);
    return c;
  }

  /** Options for one request under --command-timeout. */
  requestOpts(): { timeoutMs: number } {
    return { timeoutMs: this.globals.commandTimeoutMs };
  }

  out(text: string | Uint8Array): void {
    this.io.out(text);
  }

  err(text: string): void {
    this.io.err(text);
  }

  close(): void {
    for (const c of this.#clients) c.close();
  }
}
