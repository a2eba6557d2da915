// Type=notify: the server tells systemd READY=1 only once it serves clients, and STOPPING=1 on the way out.
import { afterAll, expect, test } from "bun:test";
import { dlopen, FFIType, ptr } from "bun:ffi";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { socketAddress } from "../../src/server/systemd/notify.ts";
import { cleanup, freePort, startMember, type Member } from "./harness.ts";

const libc = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
}).symbols;

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;

/** A bound notify socket, as systemd would make; poll() returns datagrams received so far. */
function notifySocket(path: string) {
  const fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  const addr = socketAddress(path);
  expect(libc.bind(fd, ptr(addr), addr.length)).toBe(0);
  const buf = new Uint8Array(4096);
  return {
    poll(): string[] {
      const got: string[] = [];
      for (;;) {
        const n = Number(libc.recv(fd, ptr(buf), buf.length, 0));
        if (n < 0) return got;
        got.push(Buffer.from(buf.subarray(0, n)).toString());
      }
    },
    close: () => libc.close(fd),
  };
}

const dir = mkdtempSync(join(tmpdir(), "notify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("READY=1 arrives once the member serves clients, STOPPING=1 when it stops", async () => {
  const path = join(dir, "notify.sock");
  const sock = notifySocket(path);
  const m = await startMember({ env: { NOTIFY_SOCKET: path } });
  try {
    // startMember returned when /health said true; READY follows the same event, so it is there or close.
    let messages: string[] = [];
    for (let i = 0; i < 50 && messages.length === 0; i++) {
      messages = sock.poll();
      if (messages.length === 0) await Bun.sleep(100);
    }
    expect(messages).toHaveLength(1);
    expect(messages[0]).toStartWith("READY=1\nSTATUS=serving clients as member ");
    const health = await (await fetch(`${m.clientUrl}/health`)).json();
    expect(health).toEqual({ health: "true", reason: "" });
  } finally {
    expect(await m.stop()).toBe(0);
    cleanup(m);
  }
  expect(sock.poll()).toEqual(["STOPPING=1\nSTATUS=stopping"]);
  sock.close();
});

test("an abstract socket name (@…) works too", async () => {
  const name = `@etcd-ts-notify-${process.pid}`;
  const sock = notifySocket(name);
  const m = await startMember({ env: { NOTIFY_SOCKET: name } });
  try {
    let messages: string[] = [];
    for (let i = 0; i < 50 && messages.length === 0; i++) {
      messages = sock.poll();
      if (messages.length === 0) await Bun.sleep(100);
    }
    expect(messages[0]).toStartWith("READY=1\n");
  } finally {
    await m.stop();
    cleanup(m);
    sock.close();
  }
});

test("a member of a cluster without quorum is not ready: READY=1 waits until its peers are up", async () => {
  const path = join(dir, "quorum.sock");
  const sock = notifySocket(path);
  const peers = [await freePort(), await freePort(), await freePort()];
  const names = ["q1", "q2", "q3"];
  const cluster = names.map((n, i) => `${n}=http://127.0.0.1:${peers[i]}`).join(",");
  const args = (i: number) => ["--name", names[i], "--initial-advertise-peer-urls", `http://127.0.0.1:${peers[i]}`, "--initial-cluster", cluster];
  const members: Member[] = [];
  try {
    // Not awaited: like etcd, a member that is not ready leaves its client port unanswered, so the
    // harness's health check only returns once the member is ready.
    const first = startMember({ peerPort: peers[0], args: args(0), env: { NOTIFY_SOCKET: path } });
    await Bun.sleep(2000);
    expect(sock.poll()).toEqual([]);
    members.push(...(await Promise.all([1, 2].map((i) => startMember({ peerPort: peers[i], args: args(i) })))));
    members.push(await first);
    let messages: string[] = [];
    for (let i = 0; i < 100 && messages.length === 0; i++) {
      messages = sock.poll();
      if (messages.length === 0) await Bun.sleep(100);
    }
    expect(messages).toHaveLength(1);
    expect(messages[0]).toStartWith("READY=1\n");
  } finally {
    for (const m of members) {
      await m.stop();
      cleanup(m);
    }
    sock.close();
  }
}, 60_000);
