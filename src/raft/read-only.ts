import type { Message, NodeId } from "./types.ts";

/**
 * ReadIndex requests waiting for a quorum's heartbeat acknowledgement, in arrival order. A request is
 * released, with every request queued before it, once a quorum acknowledged a heartbeat carrying its
 * context: the leader was still the leader when the read arrived.
 */
export class ReadOnly {
  #pending = new Map<string, { req: Message; index: number; acks: Set<NodeId> }>();
  #queue: string[] = [];

  static key(ctx: Uint8Array | undefined): string {
    return ctx ? Buffer.from(ctx).toString("latin1") : "";
  }

  add(index: number, req: Message, ctx: string): void {
    if (this.#pending.has(ctx)) return;
    this.#pending.set(ctx, { req, index, acks: new Set() });
    this.#queue.push(ctx);
  }

  /** Records an acknowledgement; returns who has acknowledged so far. */
  recvAck(from: NodeId, ctx: string): Set<NodeId> | undefined {
    const p = this.#pending.get(ctx);
    if (!p) return undefined;
    p.acks.add(from);
    return p.acks;
  }

  /** Releases ctx and every request queued before it. */
  advance(ctx: string): { req: Message; index: number }[] {
    const at = this.#queue.indexOf(ctx);
    if (at < 0) return [];
    const released = this.#queue.splice(0, at + 1);
    return released.map((k) => {
      const p = this.#pending.get(k)!;
      this.#pending.delete(k);
      return { req: p.req, index: p.index };
    });
  }

  lastPendingCtx(): string | undefined {
    return this.#queue[this.#queue.length - 1];
  }

  get size(): number {
    return this.#queue.length;
  }

  clear(): void {
    this.#pending.clear();
    this.#queue = [];
  }
}
