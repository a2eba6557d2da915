// HPACK Huffman coding (RFC 7541 section 5.2, code in Appendix B): a decoder walking a binary tree held
// in a typed array, and an encoder (used by tests and for long literals if ever wanted).
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "./huffman-table.ts";

const EOS = 256;

/**
 * The code tree: node n has children TREE[2n] (bit 0) and TREE[2n+1] (bit 1). A child > 0 is an inner
 * node, a child < 0 is the leaf of symbol -child-1, 0 means no such code.
 */
const TREE: Int32Array = (() => {
  const tree = new Int32Array(2 * 512);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_CODES[sym];
    const len = HUFFMAN_LENGTHS[sym];
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      if (i === 0) {
        if (tree[slot] !== 0) throw new Error(`huffman table: code of symbol ${sym} collides`);
        tree[slot] = -(sym + 1);
      } else {
        if (tree[slot] < 0) throw new Error(`huffman table: code of symbol ${sym} has a prefix that is a code`);
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot];
      }
    }
  }
  return tree;
})();

export class HuffmanError extends Error {}

let scratch = new Uint8Array(256);

/**
 * Decodes `src[start, end)` to a latin1 string (one char per octet). Throws HuffmanError on the EOS
 * symbol, padding longer than 7 bits, or padding that is not the most significant bits of EOS (all 1s).
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  // The shortest code is 5 bits, so n bytes decode to at most 8n/5 symbols.
  const max = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < max) scratch = new Uint8Array(Math.max(max, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let node = 0;
  let bitsSinceSymbol = 0; // bits consumed by the symbol in progress
  let onesOnly = true; // ... and all of them were 1
  for (let i = start; i < end; i++) {
    const byte = src[i];
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >>> b) & 1;
      const next = TREE[2 * node + bit];
      if (next < 0) {
        const sym = -next - 1;
        if (sym === EOS) throw new HuffmanError("huffman string contains EOS");
        out[n++] = sym;
        node = 0;
        bitsSinceSymbol = 0;
        onesOnly = true;
      } else {
        // Every inner node has both children (the code is complete), so next is never 0 here.
        node = next;
        bitsSinceSymbol++;
        if (bit === 0) onesOnly = false;
      }
    }
  }
  if (bitsSinceSymbol > 7) throw new HuffmanError("huffman padding longer than 7 bits");
  if (!onesOnly) throw new HuffmanError("huffman padding is not a prefix of EOS");
  return latin1(out, n);
}

function latin1(bytes: Uint8Array, n: number): string {
  if (n <= 64) {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(bytes[i]);
    return s;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, n).toString("latin1");
}

/** Length in bytes of the Huffman encoding of a latin1 string. */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_LENGTHS[s.charCodeAt(i) & 0xff];
  return (bits + 7) >>> 3;
}

/** Huffman-encodes a latin1 string (octets = char codes & 0xff), padded with 1 bits. */
export function huffmanEncode(s: string): Uint8Array {
  const out = new Uint8Array(huffmanEncodedLength(s));
  let acc = 0; // pending bits, right-aligned
  let accBits = 0;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let len = HUFFMAN_LENGTHS[sym];
    const code = HUFFMAN_CODES[sym];
    // Feed the code in pieces of at most 16 bits so acc stays within 32 bits.
    while (len > 0) {
      const take = Math.min(len, 16);
      len -= take;
      acc = ((acc << take) | ((code >>> len) & ((1 << take) - 1))) >>> 0;
      accBits += take;
      while (accBits >= 8) {
        accBits -= 8;
        out[n++] = (acc >>> accBits) & 0xff;
      }
      acc &= (1 << accBits) - 1;
    }
  }
  if (accBits > 0) out[n++] = ((acc << (8 - accBits)) | ((1 << (8 - accBits)) - 1)) & 0xff;
  return out;
}
