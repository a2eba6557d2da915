import type { KeyValue } from "./key-value.ts";

/** mvccpb.Event.EventType's values. */
export const EventType = { PUT: 0, DELETE: 1 } as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** One change, field for field as mvccpb.Event (so it encodes without copying). */
export interface WatchEvent {
  type: EventType;
  /** PUT: the key's new state. DELETE: etcd's tombstone — the key and the delete's revision as modRevision, all else zero. */
  kv: KeyValue;
  prevKv?: KeyValue;
}

/**
 * A change as the store produced it. The extra fields let `MvccStore.prevKv` find the key's previous
 * value by primary key instead of walking the key's history; they are not mvccpb fields, so encoding
 * ignores them, and they never hold the value under the name `prevKv` (events are shared by watchers).
 */
export interface StoreEvent extends WatchEvent {
  /** hist row id of the key's previous revision; null when the key had no live value before. */
  prevId?: bigint | null;
  /** A DELETE made by a write in this process: the value it deleted. */
  deleted?: KeyValue;
}

/** A change read back from history: `id` is its hist row id (ids grow with revision). */
export interface HistoryEvent extends StoreEvent {
  id: bigint;
}

/** etcd's tombstone KeyValue for a delete at rev. */
export function tombstone(key: Uint8Array, rev: bigint): KeyValue {
  return { key, value: EMPTY, createRevision: 0n, modRevision: rev, version: 0n, lease: 0n };
}

const EMPTY = new Uint8Array(0);
