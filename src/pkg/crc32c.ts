// CRC-32C (Castagnoli), reflected, as used by etcd's WAL, ext4 and iSCSI.
// Slicing-by-8: eight 256-entry tables let the inner loop consume 8 bytes per
// iteration with independent lookups, which matters because every WAL write is
// checksummed on the hot path.

const POLYNOMIAL_REFLECTED = 0x82f63b78;
const TABLE_COUNT = 8;

// TABLES[t * 256 + b] = CRC of byte b followed by t zero bytes.
const TABLES = buildTables();

function buildTables(): Uint32Array {
  const tables = new Uint32Array(TABLE_COUNT * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL_REFLECTED : c >>> 1;
    tables[b] = c >>> 0;
  }
  for (let b = 0; b < 256; b++) {
    let c = tables[b];
    for (let t = 1; t < TABLE_COUNT; t++) {
      c = tables[c & 0xff] ^ (c >>> 8);
      tables[t * 256 + b] = c;
    }
  }
  return tables;
}

/**
 * CRC-32C of `data`. `seed` is a previously returned CRC, so that
 * `crc32c(b, crc32c(a)) === crc32c(concat(a, b))` (incremental use).
 */
export function crc32c(data: Uint8Array, seed = 0): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`crc32c seed must be a uint32, got ${seed}`);
  }
  const t = TABLES;
  const end = data.length;
  let crc = (seed ^ 0xffffffff) >>> 0;
  let i = 0;
  for (const end8 = end - (end % 8); i < end8; i += 8) {
    const lo = crc ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
    const hi = data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24);
    crc =
      t[1792 + (lo & 0xff)] ^
      t[1536 + ((lo >>> 8) & 0xff)] ^
      t[1280 + ((lo >>> 16) & 0xff)] ^
      t[1024 + (lo >>> 24)] ^
      t[768 + (hi & 0xff)] ^
      t[512 + ((hi >>> 8) & 0xff)] ^
      t[256 + ((hi >>> 16) & 0xff)] ^
      t[hi >>> 24];
  }
  for (; i < end; i++) crc = t[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
