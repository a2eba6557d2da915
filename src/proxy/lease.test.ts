// Shared keep-alives against a scripted cluster.
import { describe, expect, test } from "bun:test";
import { EtcdError, GrpcCode } from "../pkg/errors.ts";
import { createLogger } from "../pkg/logger.ts";
import { etcdserverpb } from "../proto/etcd.js";
import { TransportError } from "../client/errors.ts";
import { type KeepAliveClient, SharedKeepAlive } from "./lease.ts";
import type { Upstream } from "./upstream.ts";

const log = createLogger("error", () => {});

class FakeStream {
  readonly sent: bigint[] = [];
  constructor(readonly handlers: { onMessage(r: etcdserverpb.LeaseKeepAliveResponse): void; onClose(e: unknown): void }, readonly token: string | undefined, readonly endpoint: string) {}
  send(r: { ID: bigint }) {
    this.sent.push(r.ID);
  }
  end() {}
  cancel() {}
  answer(id: bigint, ttl = 10n) {
    this.handlers.onMessage(etcdserverpb.LeaseKeepAliveResponse.decode(etcdserverpb.LeaseKeepAliveResponse.encode({ header: { revision: 1n }, ID: id, TTL: ttl }).finish()));
  }
}

function fakeUpstream() {
  const streams: FakeStream[] = [];
  const up = {
    transport: { markUnhealthy() {} },
    stream: (_m: unknown, handlers: FakeStream["handlers"], opts: { token?: string }) => {
      const s = new FakeStream(handlers, opts.token, `ep${streams.length}`);
      streams.push(s);
      return Promise.resolve(s);
    },
  };
  return { up: up as unknown as Upstream, streams };
}

class Client implements KeepAliveClient {
  readonly answers: [bigint, bigint][] = [];
  failure: EtcdError | null = null;
  answer(res: etcdserverpb.LeaseKeepAliveResponse) {
    this.answers.push([res.ID, res.TTL]);
  }
  fail(err: EtcdError) {
    this.failure = err;
  }
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe("shared keep-alives", () => {
  test("many clients, one upstream stream; a request waits for the round after the one in flight", async () => {
    const { up, streams } = fakeUpstream();
    const shared = new SharedKeepAlive(up, "tok", log);
    const a = new Client();
    const c = new Client();
    shared.join(a);
    shared.join(c);
    shared.request(a, 7n);
    await settle();
    expect(streams.length).toBe(1);
    expect(streams[0].token).toBe("tok");
    expect(streams[0].sent).toEqual([7n]);
    // While 7 is in flight, two more requests for it (one client asking twice) wait for the next round.
    shared.request(c, 7n);
    shared.request(c, 7n);
    shared.request(a, 8n);
    expect(streams[0].sent).toEqual([7n, 8n]);
    streams[0].answer(7n);
    expect(a.answers).toEqual([[7n, 10n]]);
    expect(c.answers).toEqual([]);
    expect(streams[0].sent).toEqual([7n, 8n, 7n]);
    streams[0].answer(7n, 9n);
    expect(c.answers).toEqual([[7n, 9n], [7n, 9n]]);
    streams[0].answer(8n);
    expect(a.answers).toEqual([[7n, 10n], [8n, 10n]]);
    expect(shared.hasPending(a) || shared.hasPending(c)).toBe(false);
  });

  test("a lost connection: the stream is opened again and the requests in flight are sent again", async () => {
    const { up, streams } = fakeUpstream();
    const shared = new SharedKeepAlive(up, "", log);
    const a = new Client();
    shared.join(a);
    shared.request(a, 1n);
    await settle();
    streams[0].handlers.onClose(new TransportError("ep0", "connection to ep0 closed", true));
    for (let i = 0; i < 200 && streams.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    await settle();
    expect(streams[1].sent).toEqual([1n]);
    expect(streams[1].token).toBeUndefined();
    streams[1].answer(1n);
    expect(a.answers).toEqual([[1n, 10n]]);
  });

  test("an error from the cluster reaches the clients that wait; a client that leaves is forgotten", async () => {
    const { up, streams } = fakeUpstream();
    const shared = new SharedKeepAlive(up, "", log);
    const a = new Client();
    const idle = new Client();
    shared.join(a);
    shared.join(idle);
    shared.request(a, 1n);
    await settle();
    streams[0].handlers.onClose(new EtcdError(GrpcCode.PermissionDenied, "etcdserver: permission denied"));
    expect(a.failure?.message).toBe("etcdserver: permission denied");
    expect(idle.failure).toBeNull();
    let idleCalled = false;
    shared.onIdle = () => (idleCalled = true);
    shared.leave(a);
    shared.leave(idle);
    expect(idleCalled).toBe(true);
  });
});
