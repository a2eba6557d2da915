/** @jsxImportSource hono/jsx/dom */
// Members (leader, health, raft index, db size) and leases (remaining TTL), polled every few seconds.
import { useEffect, useState } from "hono/jsx/dom";
import { grantLease, leaseTimeToLive, listLeases, memberList, revokeLease, status, type LeaseInfo, type Member, type Status } from "./api.ts";
import { Bytes } from "./bytes-view.tsx";
import { bytesSize, errorText, hexId, inputValue } from "./format.ts";

const POLL_MS = 3000;
/** Leases whose time-to-live the pane asks for on each poll. */
const LEASES_SHOWN_MAX = 50;

/** Calls `fn` now and every POLL_MS (one at a time) while mounted. */
function usePoll(fn: () => Promise<void>, deps: unknown[] = []) {
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      await fn().catch(() => {});
      if (live) timer = setTimeout(tick, POLL_MS);
    };
    tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, deps);
}

interface MemberRow {
  member: Member;
  self: boolean;
  status: Status | null;
  /** Why the status is missing (the member's client URL did not answer this browser). */
  note: string;
}

/**
 * Each member's status from its own client URL when the browser can reach it; this member's status
 * always comes from this origin. Leader and health of unreachable members are inferred from this one.
 */
async function loadMembers(): Promise<MemberRow[]> {
  const { self, members } = await memberList();
  return Promise.all(
    members.map(async (member): Promise<MemberRow> => {
      const isSelf = member.id === self;
      if (isSelf) return { member, self: true, status: await status("", 5000).catch(() => null), note: "" };
      for (const url of member.clientURLs) {
        try {
          return { member, self: false, status: await status(url.replace(/\/$/, ""), 1500), note: "" };
        } catch {}
      }
      return { member, self: false, status: null, note: member.clientURLs.length ? "not reachable from this browser" : "not started yet" };
    }),
  );
}

export function MembersPane() {
  const [rows, setRows] = useState<MemberRow[]>([]);
  const [error, setError] = useState("");
  usePoll(async () => {
    try {
      setRows(await loadMembers());
      setError("");
    } catch (e) {
      setError(errorText(e));
    }
  });
  const leader = rows.find((r) => r.self)?.status?.leader ?? rows.find((r) => r.status)?.status?.leader ?? "0";
  return (
    <div>
      {error && <p class="error">{error}</p>}
      <table aria-label="Members">
        <thead>
          <tr>
            <th>name</th>
            <th>id</th>
            <th>role</th>
            <th>health</th>
            <th>raft term</th>
            <th>raft index</th>
            <th>applied</th>
            <th>db size</th>
            <th>version</th>
            <th>client URLs</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const s = r.status;
            const role = r.member.isLearner ? "learner" : r.member.id === leader ? "leader" : "follower";
            const health = s ? (s.leader !== "0" && s.errors.length === 0 ? "healthy" : `unhealthy${s.errors.length ? ": " + s.errors.join(", ") : ": no leader"}`) : "unknown";
            return (
              <tr key={r.member.id} data-member={r.member.name} class={r.self ? "self" : ""}>
                <td>
                  {r.member.name || "(unstarted)"}
                  {r.self ? " (this member)" : ""}
                </td>
                <td class="mono">{hexId(r.member.id)}</td>
                <td data-field="role">{role}</td>
                <td data-field="health" class={s ? (health === "healthy" ? "ok" : "error") : "muted"} title={r.note}>
                  {health}
                </td>
                <td>{s?.raftTerm ?? "–"}</td>
                <td data-field="raft-index">{s?.raftIndex ?? "–"}</td>
                <td>{s?.raftAppliedIndex ?? "–"}</td>
                <td data-field="db-size">{s ? bytesSize(s.dbSize) : "–"}</td>
                <td>{s?.version ?? "–"}</td>
                <td class="mono">
                  {r.member.clientURLs.join(", ")}
                  {r.note && <span class="muted"> ({r.note})</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function LeasesPane(props: { version: number; onUse(id: string): void; onChanged(): void }) {
  const [leases, setLeases] = useState<LeaseInfo[]>([]);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState("");
  const [ttl, setTtl] = useState("60");
  const [refresh, setRefresh] = useState(0);
  usePoll(async () => {
    try {
      const ids = await listLeases();
      setTotal(ids.length);
      const infos = await Promise.all(ids.slice(0, LEASES_SHOWN_MAX).map((id) => leaseTimeToLive(id).catch(() => null)));
      setLeases(infos.filter((l): l is LeaseInfo => l !== null && l.ttl !== "-1"));
      setError("");
    } catch (e) {
      setError(errorText(e));
    }
  }, [props.version, refresh]);
  const act = async (what: () => Promise<unknown>) => {
    try {
      await what();
      setRefresh((n) => n + 1);
      props.onChanged();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <div>
      <form
        aria-label="Grant a lease"
        onSubmit={(e: Event) => {
          e.preventDefault();
          act(() => grantLease(Number(ttl)));
        }}
      >
        <label>
          TTL (s) <input name="ttl" value={ttl} onInput={(e: Event) => setTtl(inputValue(e))} inputmode="numeric" />
        </label>
        <button type="submit">Grant</button>
      </form>
      {error && <p class="error">{error}</p>}
      <table aria-label="Leases">
        <thead>
          <tr>
            <th>id</th>
            <th>remaining</th>
            <th>granted</th>
            <th>keys</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {leases.map((l) => (
            <tr key={l.id}>
              <td class="mono">{hexId(l.id)}</td>
              <td data-field="ttl">{l.ttl} s</td>
              <td>{l.grantedTtl} s</td>
              <td>
                {l.keys.length}
                {l.keys.slice(0, 3).map((k) => (
                  <span class="chip">
                    <Bytes bytes={k} />
                  </span>
                ))}
              </td>
              <td>
                <button class="link" onClick={() => props.onUse(hexId(l.id))}>
                  use in put
                </button>{" "}
                <button class="link danger" onClick={() => act(() => revokeLease(l.id))}>
                  revoke
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {total === 0 && <p class="muted">No leases.</p>}
      {total > LEASES_SHOWN_MAX && <p class="muted">Showing {LEASES_SHOWN_MAX} of {total} leases.</p>}
    </div>
  );
}
