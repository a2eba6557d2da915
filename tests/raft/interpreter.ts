// The commands of the Raft transcripts (tests/raft/testdata/*.txt), named and printed as etcd-io/raft's
// rafttest interaction environment does where our model allows, so a scenario reads the same in both.
//
// Nodes are RawNodes over MemoryStorage with etcd's test settings (electionTick 3, heartbeatTick 1, no
// size or inflight limits, pre-vote and check-quorum off unless asked). Ready handling is synchronous:
// process-ready prints the Ready, applies its committed entries (conf changes through applyConfChange)
// and calls advance(), which persists entries, hard state and snapshot into the MemoryStorage.
//
// Differences from rafttest, forced by our model:
// - Election timeouts are not random: every node's randomized timeout is electionTick + 1 (4 ticks),
//   so one tick-election (3 ticks) never makes a follower campaign but does end its leader lease.
// - Our Raft logs nothing. The INFO lines are derived by the interpreter from status() before and
//   after each step, tick or call: role/term changes, votes cast, configuration switches and
//   snapshots restored. Votes refused or ignored show only as the response (or its absence).
// - Conf changes are v1 only (one v/l/r/u operation); status prints no pendingSnap or inflight count.
import { assert } from "../../src/pkg/assert.ts";
import { decodeConfChange, encodeConfChange } from "../../src/raft/codec.ts";
import { ProgressState } from "../../src/raft/progress.ts";
import { type Ready, RawNode, type RawNodeConfig, type Status } from "../../src/raft/raw-node.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  message,
  MessageType,
  type NodeId,
  RaftError,
  type Snapshot,
  stateName,
} from "../../src/raft/types.ts";
import type { Arg, TestData } from "./datadriven.ts";

const ELECTION_TICK = 3;
const HEARTBEAT_TICK = 1;
/** random() for every node: a randomized election timeout of electionTick + floor(0.5 * electionTick). */
const JITTER = 0.5;
/** A bound on stabilize's rounds: a scenario that never settles is a bug, not a hang. */
const MAX_STABILIZE_ROUNDS = 1000;

const MSG_NAMES = [
  "MsgHup", "MsgBeat", "MsgProp", "MsgApp", "MsgAppResp", "MsgVote", "MsgVoteResp", "MsgSnap", "MsgHeartbeat",
  "MsgHeartbeatResp", "MsgUnreachable", "MsgSnapStatus", "MsgCheckQuorum", "MsgTransferLeader", "MsgTimeoutNow",
  "MsgReadIndex", "MsgReadIndexResp", "MsgPreVote", "MsgPreVoteResp",
];
const ENTRY_NAMES = ["EntryNormal", "EntryConfChange", "EntryConfChangeV2"];
const PROGRESS_NAMES = ["StateProbe", "StateReplicate", "StateSnapshot"];
const ROLE_NAMES = ["follower", "candidate", "leader", "pre-candidate"];
const CC_LETTERS: Record<string, ConfChangeType> = {
  v: ConfChangeType.AddNode,
  r: ConfChangeType.RemoveNode,
  u: ConfChangeType.UpdateNode,
  l: ConfChangeType.AddLearnerNode,
};

interface Node {
  id: NodeId;
  rn: RawNode;
  storage: MemoryStorage;
  cfg: RawNodeConfig;
  /** The configuration after each applied conf change, so a compaction snapshot carries the right one. */
  confHistory: { index: number; cs: ConfState }[];
}

/** What the derived INFO lines compare. */
interface Observed {
  st: Status;
  pendingSnapshot: number;
}

export class InteractionEnv {
  nodes: Node[] = [];
  /** Messages in flight, in the order they were sent. */
  messages: Message[] = [];
  #out: string[] = [];
  /** "none" silences everything but errors (for a scenario's set-up); any other level prints all. */
  #level = "info";

  handle(d: TestData): string {
    this.#out = [];
    const run = COMMANDS[d.cmd];
    if (!run) throw new Error(`${d.pos}: unknown command '${d.cmd}'`);
    try {
      run(this, d);
    } catch (err) {
      // Refusals of the Raft API are part of the transcript; anything else is a broken test or a bug.
      if (!(err instanceof RaftError || err instanceof UsageError)) throw err;
      this.#out.push(err instanceof RaftError ? describeRaftError(err) : err.message);
    }
    return this.#out.join("\n");
  }

  // ---- output ----

  write(text: string): void {
    if (this.#level.toLowerCase() !== "none") for (const line of text.split("\n")) this.#out.push(line);
  }

  /** Runs f with its output indented by two spaces (stabilize's and process-ready's blocks). */
  indented(f: () => void): void {
    const outer = this.#out;
    this.#out = [];
    try {
      f();
    } finally {
      const inner = this.#out;
      this.#out = outer;
      for (const line of inner) outer.push(`  ${line}`);
    }
  }

  get level(): string {
    return this.#level;
  }

  setLevel(level: string): void {
    if (!["none", "debug", "info", "warn", "error"].includes(level.toLowerCase())) throw new UsageError(`unknown log level '${level}'`);
    this.#level = level;
  }

  // ---- nodes ----

  node(id: NodeId | number): Node {
    const n = this.nodes[Number(id) - 1];
    if (!n) throw new UsageError(`no node ${id} (there are ${this.nodes.length})`);
    return n;
  }

  addNodes(count: number, opts: { voters: NodeId[]; learners: NodeId[]; index?: number; content: string; preVote: boolean; checkQuorum: boolean; inflight?: number; readOnly: "safe" | "lease"; maxCommittedSizePerReady?: number }): void {
    const bootstrap = opts.index !== undefined || opts.voters.length > 0 || opts.learners.length > 0;
    if (bootstrap && (opts.index === undefined || opts.index <= 1)) throw new UsageError("index must be given, and > 1, with voters or learners");
    for (let k = 0; k < count; k++) {
      const id = BigInt(this.nodes.length + 1);
      const storage = new MemoryStorage();
      if (bootstrap) {
        storage.applySnapshot({
          meta: { index: opts.index!, term: 1, confState: { voters: [...opts.voters], learners: [...opts.learners] } },
          data: new TextEncoder().encode(opts.content),
        });
      }
      const cfg: RawNodeConfig = {
        id,
        storage,
        electionTick: ELECTION_TICK,
        heartbeatTick: HEARTBEAT_TICK,
        applied: opts.index,
        maxSizePerMsg: Infinity,
        maxInflightMsgs: opts.inflight ?? 2 ** 31 - 1,
        preVote: opts.preVote,
        checkQuorum: opts.checkQuorum,
        readOnlyOption: opts.readOnly,
        maxCommittedSizePerReady: opts.maxCommittedSizePerReady,
        random: () => JITTER,
      };
      const n: Node = { id, rn: new RawNode(cfg), storage, cfg, confHistory: [{ index: storage.snapshot.meta.index, cs: storage.snapshot.meta.confState }] };
      this.nodes.push(n);
      this.#started(n);
    }
  }

  /** A crash and restart: the node forgets all it had not persisted and re-applies from its snapshot. */
  restart(n: Node): void {
    const snap = n.storage.snapshot;
    n.cfg = { ...n.cfg, applied: snap.meta.index };
    n.rn = new RawNode(n.cfg);
    n.confHistory = n.confHistory.filter((h) => h.index <= snap.meta.index);
    this.#started(n);
  }

  #started(n: Node): void {
    const st = n.rn.status();
    this.write(
      `INFO ${n.id} started: ${describeConfig(st)} term:${st.term}${st.vote !== 0n ? ` vote:${st.vote}` : ""} commit:${st.commit} applied:${st.applied} lastindex:${st.lastIndex} lastterm:${n.rn.logTerm(st.lastIndex)}`,
    );
  }

  /** Runs f against a node and writes what changed as INFO lines (our Raft has no logger). */
  observe<T>(n: Node, f: () => T): T {
    const before = this.#look(n);
    try {
      return f();
    } finally {
      this.#describeChange(n, before, this.#look(n));
    }
  }

  #look(n: Node): Observed {
    return { st: n.rn.status(), pendingSnapshot: n.rn.pendingSnapshot()?.meta.index ?? 0 };
  }

  #describeChange(n: Node, a: Observed, b: Observed): void {
    const id = n.id;
    if (b.pendingSnapshot && b.pendingSnapshot !== a.pendingSnapshot) {
      this.write(`INFO ${id} restored snapshot [index: ${b.pendingSnapshot}, term: ${n.rn.pendingSnapshot()!.meta.term}]`);
    }
    if (!sameSet(a.st.voters, b.st.voters) || !sameSet(a.st.learners, b.st.learners)) {
      this.write(`INFO ${id} switched to configuration ${describeConfig(b.st)}`);
    }
    if (a.st.state !== b.st.state || a.st.term !== b.st.term) {
      this.write(`INFO ${id} became ${ROLE_NAMES[b.st.state]} at term ${b.st.term}`);
    }
    if (b.st.vote !== 0n && b.st.vote !== id && (b.st.vote !== a.st.vote || b.st.term !== a.st.term)) {
      this.write(`INFO ${id} cast vote for ${b.st.vote} at term ${b.st.term}`);
    }
  }

  // ---- the Ready loop and the network ----

  processReady(n: Node): void {
    const rd: Ready = n.rn.ready();
    this.write(describeReady(rd));
    for (const e of rd.committedEntries) {
      if (e.type !== EntryType.ConfChange) continue;
      const cc = decodeConfChange(e.data);
      const cs = this.observe(n, () => n.rn.applyConfChange(cc));
      n.confHistory.push({ index: e.index, cs });
    }
    this.messages.push(...rd.messages);
    this.observe(n, () => n.rn.advance(rd));
  }

  /** Delivers (or drops) the messages to each recipient, in the order they were sent. Returns how many. */
  deliver(recipients: { id: NodeId; drop: boolean }[], type?: number): number {
    let count = 0;
    for (const r of recipients) {
      const mine = this.messages.filter((m) => m.to === r.id && (type === undefined || m.type === type));
      this.messages = this.messages.filter((m) => !mine.includes(m));
      count += mine.length;
      for (const m of mine) {
        this.write(`${r.drop ? "dropped: " : ""}${describeMessage(m)}`);
        if (r.drop) continue;
        const n = this.node(r.id);
        try {
          this.observe(n, () => n.rn.step(m));
        } catch (err) {
          if (!(err instanceof RaftError)) throw err;
          this.write(describeRaftError(err));
        }
      }
    }
    return count;
  }

  stabilize(ids: NodeId[]): void {
    const nodes = ids.length ? ids.map((id) => this.node(id)) : this.nodes;
    for (let round = 0; round < MAX_STABILIZE_ROUNDS; round++) {
      let done = true;
      for (const n of nodes) {
        if (!n.rn.hasReady()) continue;
        done = false;
        this.write(`> ${n.id} handling Ready`);
        this.indented(() => this.processReady(n));
      }
      for (const n of nodes) {
        if (!this.messages.some((m) => m.to === n.id)) continue;
        done = false;
        this.write(`> ${n.id} receiving messages`);
        this.indented(() => this.deliver([{ id: n.id, drop: false }]));
      }
      if (done) return;
    }
    throw new Error(`stabilize did not settle in ${MAX_STABILIZE_ROUNDS} rounds`);
  }

  /** Records a snapshot at index (applied already) with the configuration in force there. */
  snapshot(n: Node, index: number): Snapshot {
    const applied = n.rn.status().applied;
    if (index > applied) throw new UsageError(`cannot snapshot ${n.id} at ${index}: only ${applied} is applied`);
    const cs = n.confHistory.filter((h) => h.index <= index).pop()!.cs;
    return n.storage.createSnapshot(index, cs, new Uint8Array(0));
  }

  compact(n: Node, index: number): void {
    if (n.storage.snapshot.meta.index !== index) this.snapshot(n, index);
    n.storage.compact(index);
  }

  raftLog(n: Node): string {
    const fi = n.storage.firstIndex();
    const li = n.storage.lastIndex();
    if (li < fi) return `log is empty: first index=${fi}, last index=${li}`;
    return n.storage.entries(fi, li + 1).map(describeEntry).join("\n");
  }
}

/** A malformed command in a transcript: printed as its output, so the file shows what is wrong. */
class UsageError extends Error {}

// ---- commands ----

type Command = (env: InteractionEnv, d: TestData) => void;

const COMMANDS: Record<string, Command> = {
  "log-level": (env, d) => env.setLevel(bare(d)[0] ?? ""),

  // add-nodes <n> voters=(1,2,3) learners=(4) index=10 content=foo prevote=true checkquorum=true
  //   inflight=<n> read-only=safe|lease-based max-committed-size-per-ready=<bytes>
  "add-nodes": (env, d) => {
    const count = int(bare(d)[0], "the number of nodes");
    const readOnly = str(d, "read-only") ?? "safe";
    if (readOnly !== "safe" && readOnly !== "lease-based") throw new UsageError(`invalid read-only option '${readOnly}'`);
    env.addNodes(count, {
      voters: vals(d, "voters").map((v) => BigInt(int(v, "a voter id"))),
      learners: vals(d, "learners").map((v) => BigInt(int(v, "a learner id"))),
      index: optInt(d, "index"),
      content: str(d, "content") ?? "",
      preVote: bool(d, "prevote"),
      checkQuorum: bool(d, "checkquorum"),
      inflight: optInt(d, "inflight"),
      readOnly: readOnly === "safe" ? "safe" : "lease",
      maxCommittedSizePerReady: optInt(d, "max-committed-size-per-ready"),
    });
  },

  campaign: (env, d) => {
    const n = env.node(firstId(d));
    const before = n.rn.state;
    env.observe(n, () => n.rn.campaign());
    if (n.rn.state === before && !n.rn.status().promotable) env.write(`INFO ${n.id} is not a voter and cannot campaign`);
  },

  // propose <id> <data>
  propose: (env, d) => {
    const n = env.node(firstId(d));
    const data = bare(d)[1];
    if (data === undefined) throw new UsageError("usage: propose <id> <data>");
    env.observe(n, () => n.rn.propose(new TextEncoder().encode(data)));
  },

  // propose-conf-change <id> v1=true, then one line: v<id> (voter), l<id> (learner), r<id> (remove), u<id> (update)
  "propose-conf-change": (env, d) => {
    const n = env.node(firstId(d));
    if (str(d, "v1") === "false" || str(d, "transition") !== undefined) {
      throw new UsageError("only v1 conf changes exist here: this Raft has no joint consensus (ConfChangeV2)");
    }
    const ops = d.input.split(/\s+/).filter((s) => s !== "");
    if (ops.length !== 1) throw new UsageError(`a v1 conf change is exactly one operation, got '${d.input}'`);
    const type = CC_LETTERS[ops[0][0]];
    if (type === undefined) throw new UsageError(`unknown conf change '${ops[0]}' (v, l, r or u followed by a node id)`);
    const cc: ConfChange = { type, nodeId: BigInt(int(ops[0].slice(1), "a node id")) };
    env.observe(n, () => n.rn.proposeConfChange(encodeConfChange(cc)));
  },

  "tick-heartbeat": (env, d) => tick(env, env.node(firstId(d)), HEARTBEAT_TICK),
  "tick-election": (env, d) => tick(env, env.node(firstId(d)), ELECTION_TICK),

  // deliver-msgs <id>... drop=(<id>,...) type=MsgApp
  "deliver-msgs": (env, d) => {
    const recipients = bare(d).map((w) => ({ id: BigInt(int(w, "a node id")), drop: false }));
    for (const v of vals(d, "drop")) recipients.push({ id: BigInt(int(v, "a node id")), drop: true });
    const typeName = str(d, "type");
    const type = typeName === undefined ? undefined : MSG_NAMES.indexOf(typeName);
    if (type === -1) throw new UsageError(`unknown message type '${typeName}'`);
    if (env.deliver(recipients, type) === 0) env.write("no messages");
  },

  "process-ready": (env, d) => {
    const ids = bare(d).map((w) => env.node(int(w, "a node id")));
    for (const n of ids) {
      if (ids.length === 1) env.processReady(n);
      else {
        env.write(`> ${n.id} handling Ready`);
        env.indented(() => env.processReady(n));
      }
    }
  },

  // stabilize [<id>...] [log-level=none]: Ready handling and delivery until nothing moves
  stabilize: (env, d) => {
    const ids = bare(d).map((w) => BigInt(int(w, "a node id")));
    const level = str(d, "log-level");
    if (level === undefined) return env.stabilize(ids);
    const restore = env.level;
    env.setLevel(level);
    try {
      env.stabilize(ids);
    } finally {
      env.setLevel(restore);
    }
  },

  // status <id>: the leader's progress of every member
  status: (env, d) => {
    const st = env.node(firstId(d)).rn.status();
    for (const id of [...st.progress.keys()].sort(cmpId)) {
      const pr = st.progress.get(id)!;
      let line = `${id}: ${PROGRESS_NAMES[pr.state]} match=${pr.match} next=${pr.next}`;
      if (pr.isLearner) line += " learner";
      if (pr.paused) line += " paused";
      if (!pr.recentActive) line += " inactive";
      env.write(line);
    }
  },

  "raft-state": (env) => {
    for (const n of env.nodes) {
      const st = n.rn.status();
      env.write(`${n.id}: ${stateName[st.state]} (${st.voters.has(n.id) ? "Voter" : "Non-Voter"}) Term:${st.term} Lead:${st.lead}`);
    }
  },

  "raft-log": (env, d) => env.write(env.raftLog(env.node(firstId(d)))),

  // compact <id> <index>: snapshot at index (applied), then drop the entries up to it
  compact: (env, d) => {
    const n = env.node(firstId(d));
    env.compact(n, int(bare(d)[1], "the compaction index"));
    env.write(env.raftLog(n));
  },

  // snapshot <id>: records a snapshot of the applied state in storage, keeping the log (our leader
  // sends MemoryStorage's latest snapshot; etcd-io/raft's environment keeps one per applied entry)
  snapshot: (env, d) => {
    const n = env.node(firstId(d));
    const s = env.snapshot(n, n.rn.status().applied);
    env.write(`snapshot at Index:${s.meta.index} Term:${s.meta.term}`);
  },

  // send-snapshot <from> <to>: queues a MsgSnap with the sender's latest snapshot
  "send-snapshot": (env, d) => {
    const [from, to] = bare(d).map((w) => env.node(int(w, "a node id")));
    if (!from || !to) throw new UsageError("usage: send-snapshot <from> <to>");
    const m = message({ type: MessageType.Snap, from: from.id, to: to.id, term: from.rn.term, snapshot: from.storage.snapshot });
    env.messages.push(m);
    env.write(describeMessage(m));
  },

  "transfer-leadership": (env, d) => {
    const from = env.node(int(str(d, "from"), "from="));
    const to = env.node(int(str(d, "to"), "to="));
    env.observe(from, () => from.rn.transferLeader(to.id));
  },

  // report-unreachable <on> <peer>
  "report-unreachable": (env, d) => {
    const [on, peer] = bare(d).map((w) => env.node(int(w, "a node id")));
    if (!on || !peer) throw new UsageError("usage: report-unreachable <on-node> <unreachable-node>");
    env.observe(on, () => on.rn.reportUnreachable(peer.id));
  },

  // report-snapshot <on> <peer> ok=true|false: what the transport says after shipping a snapshot
  "report-snapshot": (env, d) => {
    const [on, peer] = bare(d).map((w) => env.node(int(w, "a node id")));
    if (!on || !peer || str(d, "ok") === undefined) throw new UsageError("usage: report-snapshot <on-node> <peer> ok=true|false");
    env.observe(on, () => on.rn.reportSnapshot(peer.id, bool(d, "ok")));
  },

  // restart <id>: crash (losing what was not persisted) and start again from the node's storage
  restart: (env, d) => env.restart(env.node(firstId(d))),
};

function tick(env: InteractionEnv, n: Node, times: number): void {
  for (let i = 0; i < times; i++) env.observe(n, () => n.rn.tick());
}

// ---- arguments ----

function bare(d: TestData): string[] {
  return d.args.filter((a) => a.vals.length === 0).map((a) => a.key);
}

function find(d: TestData, key: string): Arg | undefined {
  return d.args.find((a) => a.key === key && a.vals.length > 0);
}

function vals(d: TestData, key: string): string[] {
  return find(d, key)?.vals ?? [];
}

function str(d: TestData, key: string): string | undefined {
  return find(d, key)?.vals[0];
}

function bool(d: TestData, key: string): boolean {
  const v = str(d, key);
  if (v === undefined || v === "false") return false;
  if (v === "true") return true;
  throw new UsageError(`${key}=${v}: expected true or false`);
}

function int(s: string | undefined, what: string): number {
  if (s === undefined || !/^\d+$/.test(s)) throw new UsageError(`expected ${what}, got '${s ?? ""}'`);
  return Number(s);
}

function optInt(d: TestData, key: string): number | undefined {
  const v = str(d, key);
  return v === undefined ? undefined : int(v, `${key}=<number>`);
}

function firstId(d: TestData): number {
  return int(bare(d)[0], "a node id");
}

// ---- printing, in etcd-io/raft's Describe* forms ----

export function describeMessage(m: Message, indent = ""): string {
  let s = `${indent}${target(m.from)}->${target(m.to)} ${MSG_NAMES[m.type]} Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.commit !== 0) s += ` Commit:${m.commit}`;
  if (m.entries.length === 1) s += ` Entries:[${describeEntry(m.entries[0])}]`;
  else if (m.entries.length > 1) s += ` Entries:[${m.entries.map((e) => `\n${indent}  ${describeEntry(e)}`).join("")}\n${indent}]`;
  if (m.snapshot && m.snapshot.meta.index !== 0) s += `\n${indent}  Snapshot: ${describeSnapshot(m.snapshot)}`;
  return s;
}

export function describeEntry(e: Entry): string {
  let body: string;
  if (e.type === EntryType.ConfChange) {
    const cc = decodeConfChange(e.data);
    const letter = Object.keys(CC_LETTERS).find((k) => CC_LETTERS[k] === cc.type) ?? "unknown";
    body = `${letter}${cc.nodeId}`;
  } else body = goQuote(e.data);
  return `${e.term}/${e.index} ${ENTRY_NAMES[e.type]} ${body}`;
}

function describeReady(rd: Ready): string {
  const lines: string[] = [];
  if (rd.softState) lines.push(`Lead:${rd.softState.lead} State:${stateName[rd.softState.state]}`);
  if (rd.hardState) lines.push(`HardState ${describeHardState(rd.hardState)}`);
  if (rd.readStates.length) lines.push(`ReadStates ${rd.readStates.map((r) => `[Index:${r.index} RequestCtx:${goQuote(r.requestCtx)}]`).join(" ")}`);
  if (rd.entries.length) lines.push("Entries:", ...rd.entries.map(describeEntry));
  if (rd.snapshot) lines.push(`Snapshot ${describeSnapshot(rd.snapshot)}`);
  if (rd.committedEntries.length) lines.push("CommittedEntries:", ...rd.committedEntries.map(describeEntry));
  if (rd.messages.length) lines.push("Messages:", ...rd.messages.map((m) => describeMessage(m)));
  return lines.length ? `Ready MustSync=${rd.mustSync}:\n${lines.join("\n")}` : "<empty Ready>";
}

function describeHardState(hs: HardState): string {
  return `Term:${hs.term}${hs.vote !== 0n ? ` Vote:${hs.vote}` : ""} Commit:${hs.commit}`;
}

function describeSnapshot(s: Snapshot): string {
  const cs = s.meta.confState;
  return `Index:${s.meta.index} Term:${s.meta.term} ConfState:Voters:[${cs.voters.join(" ")}] Learners:[${cs.learners.join(" ")}]`;
}

function describeConfig(st: Status): string {
  const voters = [...st.voters].sort(cmpId).join(" ");
  const learners = [...st.learners].sort(cmpId).join(" ");
  return `voters=(${voters})${learners ? ` learners=(${learners})` : ""}`;
}

function describeRaftError(err: RaftError): string {
  return err.kind === "ProposalDropped" ? `raft proposal dropped: ${err.message}` : `${err.kind}: ${err.message}`;
}

function target(id: NodeId): string {
  return id === 0n ? "None" : id.toString(16);
}

/** Go's %q of a byte string, for ASCII: what etcd's transcripts show as entry data. */
function goQuote(b: Uint8Array): string {
  let s = '"';
  for (const c of b) {
    if (c === 0x22) s += '\\"';
    else if (c === 0x5c) s += "\\\\";
    else if (c === 0x0a) s += "\\n";
    else if (c === 0x09) s += "\\t";
    else if (c === 0x0d) s += "\\r";
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return `${s}"`;
}

function sameSet(a: ReadonlySet<NodeId>, b: ReadonlySet<NodeId>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

function cmpId(a: NodeId, b: NodeId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

assert(MSG_NAMES.length === MessageType.PreVoteResp + 1 && PROGRESS_NAMES.length === ProgressState.Snapshot + 1, "the interpreter's name tables match types.ts");
