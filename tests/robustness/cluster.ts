// A cluster of dist/etcd processes for a robustness run: every member's peer traffic crosses a fault
// proxy (tests/support/fault-proxy.ts), so the nemesis can cut, delay and reset links, and every
// member can be killed, paused, crashed at a named failpoint and restarted on its data dir.
import { spawnSync } from "node:child_process";
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeSync } from "node:fs";
import { DB_SYNCED_COPY_SUFFIX, SYNCED_NOTE_NAME } from "../../src/pkg/failpoint.ts";
import { join } from "node:path";
import { PeerNetwork } from "../support/fault-proxy.ts";
import { freePort, type Member, startMember } from "../e2e/harness.ts";

export interface ClusterOptions {
  size: number;
  /** A directory of its own: the members' data dirs go under it and stay there for a failed run. */
  dir: string;
  /** A run-unique token, so members of two runs never talk. */
  token: string;
  /** Extra server flags for every member. */
  args?: string[];
  /** Extra environment for every member (a planted bug). */
  env?: Record<string, string>;
  /**
   * Each member's data dir on a tmpfs of this many MiB, so a disk can be filled (ENOSPC) without
   * touching the host's disks. Needs mount(8) as root; refused with a clear error otherwise.
   */
  diskMiB?: number;
}

/** What became of one process of a member: kept for the logs of a failed run. */
export interface ProcessRecord {
  name: string;
  member: Member;
  startedAt: number;
  env: Record<string, string>;
}

export class Cluster {
  readonly names: string[];
  readonly endpoints: string[];
  readonly processes: ProcessRecord[] = [];
  #members: (Member | null)[];
  #paused = new Set<number>();
  #stopped = false;
  /** How member i joins when its data dir is empty: with the others at bootstrap, or as an added member. */
  #joinAs: ("new" | "existing")[];

  private constructor(
    readonly opts: ClusterOptions,
    readonly net: PeerNetwork,
    readonly clientPorts: number[],
    readonly peerPorts: number[],
  ) {
    this.names = Array.from({ length: opts.size }, (_, i) => `r${i}`);
    this.endpoints = clientPorts.map((p) => `127.0.0.1:${p}`);
    this.#members = this.names.map(() => null);
    this.#joinAs = this.names.map(() => "new");
  }

  /** Starts every member together (none is healthy before a quorum exists) and learns their ids. */
  static async start(opts: ClusterOptions): Promise<Cluster> {
    const clientPorts: number[] = [];
    const peerPorts: number[] = [];
    for (let i = 0; i < opts.size; i++) clientPorts.push(await freePort());
    for (let i = 0; i < opts.size; i++) peerPorts.push(await freePort());
    const net = await PeerNetwork.start(peerPorts);
    const c = new Cluster(opts, net, clientPorts, peerPorts);
    mkdirSync(opts.dir, { recursive: true });
    if (opts.diskMiB) for (let i = 0; i < opts.size; i++) c.#mount(i, opts.diskMiB);
    await Promise.all(c.names.map((_, i) => c.startMember(i)));
    if (opts.size > 1) await net.waitForIds();
    return c;
  }

  get size(): number {
    return this.names.length;
  }

  member(i: number): Member | null {
    return this.#members[i];
  }

  isUp(i: number): boolean {
    const m = this.#members[i];
    return m !== null && m.proc.exitCode === null && m.proc.signalCode === null;
  }

  isPaused(i: number): boolean {
    return this.#paused.has(i);
  }

  dataDir(i: number): string {
    return join(this.opts.dir, this.names[i]);
  }

  #args(i: number, state: "new" | "existing"): string[] {
    const url = (j: number) => this.peerUrl(j);
    return [
      "--name", this.names[i],
      "--initial-advertise-peer-urls", url(i),
      "--initial-cluster-token", this.opts.token,
      "--initial-cluster", this.names.map((n, j) => `${n}=${url(j)}`).join(","),
      "--initial-cluster-state", state,
      ...(this.opts.args ?? []),
    ];
  }

  /**
   * (Re)starts member i on its ports and data dir; `env` arms a failpoint (ETCD_TS_FAILPOINT). With
   * `until: "live"` it returns once the member serves, healthy or not (a member whose peers are cut
   * off is not healthy).
   */
  async startMember(i: number, env: Record<string, string> = {}, until: "health" | "live" = "health"): Promise<Member> {
    if (this.isUp(i)) throw new Error(`member ${this.names[i]} is already running`);
    const all = { ...this.opts.env, ...env };
    const m = await startMember({ dataDir: this.dataDir(i), port: this.clientPorts[i], peerPort: this.peerPorts[i], args: this.#args(i, this.#joinAs[i]), env: all, until });
    this.#members[i] = m;
    this.#paused.delete(i);
    this.processes.push({ name: this.names[i], member: m, startedAt: performance.now(), env: all });
    return m;
  }

  /** The peer URL member i advertises: its fault proxy's. */
  peerUrl(i: number): string {
    return `http://127.0.0.1:${this.net.ports[i]}`;
  }

  /**
   * Member i is stopped and its data dir removed, to come back as a new member (added with
   * MemberAdd by the caller): from now on it starts with --initial-cluster-state existing.
   */
  async wipe(i: number): Promise<void> {
    await this.kill(i);
    const dir = this.dataDir(i);
    if (this.opts.diskMiB) spawnSync("find", [dir, "-mindepth", "1", "-delete"]);
    else rmSync(dir, { recursive: true, force: true });
    this.#joinAs[i] = "existing";
  }

  async kill(i: number): Promise<void> {
    const m = this.#members[i];
    if (!m) return;
    if (this.#paused.has(i)) m.proc.kill("SIGCONT");
    this.#paused.delete(i);
    await m.stop("SIGKILL");
    this.#members[i] = null;
  }

  pause(i: number): void {
    const m = this.#members[i];
    if (!m || !this.isUp(i)) return;
    m.proc.kill("SIGSTOP");
    this.#paused.add(i);
  }

  resume(i: number): void {
    const m = this.#members[i];
    if (!m || !this.#paused.delete(i)) return;
    m.proc.kill("SIGCONT");
  }

  /**
   * A power cut on member i: SIGKILL, then its WAL is cut back to what the disk would hold — every
   * byte after the last fdatasync (as the member noted it, ETCD_TS_RECORD_SYNCED=1) lost or torn at
   * a random point. The database either keeps what it has (SQLite's unsynced commits happened to
   * reach the disk) or, half the time, goes back to the copy the member kept at its last database
   * sync (they did not); the member applies only entries its own WAL had made durable, so either way
   * its WAL replays the rest. Returns what was cut.
   */
  async powerCut(i: number, rnd: () => number): Promise<string> {
    await this.kill(i);
    const cut: string[] = [];
    const db = join(this.dataDir(i), "member", "snap", "db");
    if (existsSync(db + DB_SYNCED_COPY_SUFFIX) && rnd() < 0.5) {
      copyFileSync(db + DB_SYNCED_COPY_SUFFIX, db);
      rmSync(`${db}-wal`, { force: true });
      rmSync(`${db}-shm`, { force: true });
      cut.push("database back to its last sync");
    }
    const walDir = join(this.dataDir(i), "member", "wal");
    const note = join(walDir, SYNCED_NOTE_NAME);
    if (!existsSync(note)) return cut.length ? cut.join(", ") : "no WAL sync noted: nothing cut";
    const [segment, bytes] = readFileSync(note, "utf8").trim().split(" ");
    const synced = Number(bytes);
    for (const name of readdirSync(walDir).filter((n) => n.endsWith(".wal")).sort()) {
      if (name < segment) continue;
      const size = statSync(join(walDir, name)).size;
      // Segments after the noted one were created (their directory entry is synced) but nothing in them was.
      const keep = name === segment ? synced : 0;
      if (size <= keep) continue;
      const to = keep + Math.floor(rnd() * (size - keep + 1));
      truncateSync(join(walDir, name), to);
      cut.push(`WAL ${name} ${size} → ${to} bytes`);
    }
    return cut.length ? cut.join(", ") : "nothing unsynced to lose";
  }

  /** Waits (bounded) for member i to exit by itself (a failpoint); true if it did. */
  async waitExit(i: number, timeoutMs: number): Promise<boolean> {
    const m = this.#members[i];
    if (!m) return true;
    const gone = () => m.proc.exitCode !== null || m.proc.signalCode !== null;
    const exited = gone() || (await Promise.race([new Promise<boolean>((r) => m.proc.once("exit", () => r(true))), Bun.sleep(timeoutMs).then(gone)]));
    if (exited) this.#members[i] = null;
    return exited;
  }

  /** Every member running and unpaused, every link healed. */
  async heal(): Promise<void> {
    this.net.heal();
    const down: number[] = [];
    for (let i = 0; i < this.size; i++) {
      this.resume(i);
      if (!this.isUp(i)) {
        this.#members[i] = null;
        down.push(i);
      }
    }
    // Together: a member serves only once it has a leader, so after a whole-cluster outage none
    // would be ready alone.
    await Promise.all(down.map((i) => this.startMember(i, {}, "live")));
  }

  /**
   * Fills member i's disk (its tmpfs) to the last byte, so its next write fails with ENOSPC; the
   * returned function frees the space again.
   */
  fillDisk(i: number): () => void {
    if (!this.opts.diskMiB) throw new Error("fillDisk needs a cluster started with diskMiB");
    const path = join(this.dataDir(i), "robustness-filler");
    const fd = openSync(path, "w");
    const chunk = Buffer.alloc(1 << 20);
    try {
      for (let n = 0; n < this.opts.diskMiB * 2; n++) writeSync(fd, chunk);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
      // The last few KiB too: a WAL record must not still fit.
      for (let n = 0; n < 1024; n++) {
        try {
          writeSync(fd, chunk, 0, 4096);
        } catch {
          break;
        }
      }
    } finally {
      closeSync(fd);
    }
    return () => unlinkSync(path);
  }

  /** Stops every member and the proxies; `keepData` copies tmpfs data dirs to `<dir>/<name>-data` first. */
  async stop(keepData = false): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (let i = 0; i < this.size; i++) {
      this.resume(i);
      await this.#members[i]?.stop("SIGKILL");
      this.#members[i] = null;
    }
    await this.net.close();
    if (this.opts.diskMiB) {
      for (let i = 0; i < this.size; i++) {
        if (keepData) cpSync(this.dataDir(i), `${this.dataDir(i)}-data`, { recursive: true });
        spawnSync("umount", ["-l", this.dataDir(i)]);
        rmSync(this.dataDir(i), { recursive: true, force: true });
      }
    }
  }

  #mount(i: number, mib: number): void {
    const dir = this.dataDir(i);
    mkdirSync(dir, { recursive: true });
    const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${mib}m,mode=0700`, "tmpfs", dir], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`the disk-full nemesis puts each member's data dir on a tmpfs, and 'mount -t tmpfs … ${dir}' failed (${(r.stderr || r.error?.message || "").trim()}): run as root, or leave disk-full out (--nemeses)`);
  }
}
