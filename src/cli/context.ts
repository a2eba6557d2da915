/**
 * What a command gets to work with: the global settings, clients (made on first use, authenticated
 * with --user), a deadline per request (--command-timeout), output streams, stdin and password
 * prompts. Tests build one with fake streams.
 */
import type { Credentials } from "../client/auth.ts";
import fs from "node:fs";
import { Client, type ClientTlsOptions, type RequestOptions } from "../client/index.ts";
import { createLogger, type Logger } from "../pkg/logger.ts";
import { CliError, describeError, ExitCode } from "./errors.ts";
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
  /** Every member of the new cluster (etcdctl logs "added member" for each); absent: this one only. */
  members?: readonly { id: bigint; peerURLs: readonly string[] }[];
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
  /** The --user password, asked once for every client of the command. */
  #password: Promise<string> | null = null;
  #log: Logger | null = null;

  /**
   * `interrupted` aborts on SIGINT/SIGTERM for commands that take interrupts (Command.interruptible);
   * for the others it never does (the signal ends the process).
   */
  constructor(
    readonly globals: Globals,
    readonly io: Io,
    readonly offline: OfflineTools = {},
    readonly interrupted: AbortSignal = new AbortController().signal,
  ) {}

  /** The client for --endpoints (failover across them). */
  client(): Client {
    if (!this.#main) this.#main = this.clientFor(this.globals.endpoints);
    return this.#main;
  }

  /**
   * A client for particular endpoints (endpoint health/status --cluster asks each member), with the
   * global TLS and --user unless given others (make-mirror's destination has its own TLS, no user).
   */
  clientFor(endpoints: string[], opts: { tls?: ClientTlsOptions | null; anonymous?: boolean } = {}): Client {
    const g = this.globals;
    const creds = opts.anonymous ? null : this.credentials();
    const tls = opts.tls === undefined ? this.tls() : opts.tls;
    // --command-timeout is applied per request (requestOpts), as etcdctl's context per command.
    const c = new Client({
      endpoints,
      dialTimeoutMs: g.dialTimeoutMs,
      requestTimeoutMs: 0,
      keepAliveTimeMs: g.keepAliveTimeMs,
      keepAliveTimeoutMs: g.keepAliveTimeoutMs,
      username: creds?.username,
      password: creds?.password,
      onAuthFailure: creds?.onFailure,
      tls: tls ?? undefined,
      logger: this.clientLog(),
    });
    this.#clients.push(c);
    return c;
  }

  /**
   * TLS as etcdctl sets it up: any of --cert, --key, --cacert, or --insecure-transport=false, turns
   * TLS on for every endpoint (https:// endpoints use it in any case); --insecure-skip-tls-verify
   * then skips checking the server's certificate. Null: cleartext (https:// endpoints still get TLS
   * with the system's CAs). A file that cannot be read ends the command, naming it.
   */
  tls(): ClientTlsOptions | null {
    return tlsOptions(this.globals, this.globals.endpoints);
  }

  /**
   * --user and --password as client credentials (none without --user). A name without a password is
   * asked for ("Password: ") when the first request needs it, as etcdctl asks when it connects. A
   * failed Authenticate ends the command with exit code 2, as etcdctl's failed client creation does.
   */
  credentials(): Required<Credentials> | null {
    const g = this.globals;
    if (!g.user) return null;
    const password = g.askPassword ? () => (this.#password ??= this.readSecret("Password: ")) : g.password;
    return {
      username: g.user,
      password,
      onFailure: (err) => new CliError(ExitCode.BadConnection, describeError(err)),
    };
  }

  /**
   * A password as etcdctl reads it (speakeasy.Ask): the prompt on stdout, one line of stdin (without
   * echo on a terminal), trimmed, then a newline on stdout.
   */
  async readSecret(prompt: string): Promise<string> {
    this.io.out(prompt);
    const line = this.io.stdinIsTTY ? await readTerminalLine() : await this.io.readLine();
    this.io.out("\n");
    return (line ?? "").trim();
  }

  /**
   * The client library's log as etcdctl's clientv3 writes it: zap JSON lines on stderr, warnings and
   * up (the "retrying of unary invoker failed" line of each failed request attempt).
   */
  clientLog(): Logger {
    return (this.#log ??= createLogger("warn", (line) => this.io.err(line)));
  }

  /**
   * Options for one request under --command-timeout. As etcdctl's context.WithTimeout, 0 is a
   * deadline that has already passed, not "no deadline".
   */
  requestOpts(): RequestOptions {
    return { deadlineMs: Date.now() + this.globals.commandTimeoutMs };
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

/** etcdctl's secureCfg: the TLS settings of one set of endpoints, and the flags that gave them. */
export interface SecureConfig {
  cert: string;
  key: string;
  cacert: string;
  insecureTransport: boolean;
  insecureSkipVerify: boolean;
}

/** The flags behind each SecureConfig field, for messages (make-mirror's are --dest-cert…). */
export interface SecureFlagNames {
  cert: string;
  key: string;
  cacert: string;
}

const GLOBAL_TLS_FLAGS: SecureFlagNames = { cert: "--cert", key: "--key", cacert: "--cacert" };

/** See Ctx.tls(); `flags` name the settings in errors. */
export function tlsOptions(sec: SecureConfig, endpoints: readonly string[], flags: SecureFlagNames = GLOBAL_TLS_FLAGS): ClientTlsOptions | null {
  if (!sec.cert && !sec.key && !sec.cacert && sec.insecureTransport) {
    return sec.insecureSkipVerify && endpoints.some((e) => /^https:/i.test(e)) ? { insecureSkipVerify: true } : null;
  }
  if (Boolean(sec.cert) !== Boolean(sec.key)) {
    throw new CliError(
      ExitCode.BadArgs,
      sec.cert ? `${flags.cert} needs ${flags.key} (the client certificate's private key)` : `${flags.key} needs ${flags.cert} (the client certificate)`,
    );
  }
  const read = (file: string, flag: string): Buffer | undefined => {
    if (!file) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (e) {
      throw new CliError(ExitCode.BadArgs, `${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
    }
  };
  return { ca: read(sec.cacert, flags.cacert), cert: read(sec.cert, flags.cert), key: read(sec.key, flags.key), insecureSkipVerify: sec.insecureSkipVerify };
}

/** One line typed on the terminal without echo (raw mode); Ctrl-C ends etcdctl as speakeasy does. */
function readTerminalLine(): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let line = "";
    const finish = () => {
      stdin.off("data", onData);
      stdin.setRawMode?.(false);
      stdin.pause();
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") {
          finish();
          return resolve(line);
        }
        if (ch === "\u0003") {
          finish();
          return reject(new CliError(ExitCode.Interrupted, ""));
        }
        if (ch === "\u007f" || ch === "\b") line = [...line].slice(0, -1).join("");
        else line += ch;
      }
    };
    stdin.setRawMode?.(true);
    stdin.on("data", onData);
    stdin.resume();
  });
}
