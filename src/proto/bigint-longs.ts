/**
 * Makes protobufjs read and write 64-bit integer fields as bigint. etcd's member and lease ids use all
 * 64 bits and revisions are int64, so they must never round through number; patching the runtime once
 * here avoids converting Long ⇄ bigint on every field of every message.
 */
import protobuf from "protobufjs/minimal.js";

const util = protobuf.util as any;
const LongBits = util.LongBits;
const MASK32 = 0xffffffffn;

const originalFrom = LongBits.from;
const TWO_32 = 4294967296;
const SAFE_MAX = 0x1fffffffffffffn;

// Every Raft message, WAL record and response header has several 64-bit fields, and nearly all of
// them are small (terms, indexes, revisions): those take number arithmetic, which allocates nothing,
// where each BigInt step would allocate a BigInt.
LongBits.from = function from(value: unknown) {
  if (typeof value === "bigint") {
    if (value === 0n) return LongBits.zero;
    if (value > 0n && value <= SAFE_MAX) {
      const n = Number(value);
      return new LongBits(n >>> 0, Math.floor(n / TWO_32));
    }
    const v = BigInt.asUintN(64, value);
    return new LongBits(Number(v & MASK32), Number(v >> 32n));
  }
  return originalFrom(value);
};

LongBits.prototype.toLong = function toLong(unsigned: boolean): bigint {
  const hi = this.hi >>> 0;
  if (hi < 0x200000) return BigInt(hi * TWO_32 + (this.lo >>> 0)); // below 2^53, and positive
  const v = (BigInt(this.hi >>> 0) << 32n) | BigInt(this.lo >>> 0);
  return unsigned ? v : BigInt.asIntN(64, v);
};

// Readers pick toLong only when a Long implementation is configured; make sure one is.
if (!util.Long) util.Long = Object;
(protobuf as any).configure?.();

export {};
