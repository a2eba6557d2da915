// Small display helpers shared by the panes.

/** etcdctl prints lease and member ids in hex; the gateway carries them as decimal strings. */
export function hexId(id: string): string {
  try {
    return BigInt(id).toString(16);
  } catch {
    return id;
  }
}

/** A lease id typed by the user: hex as etcdctl prints it (optionally 0x…), or "" for none. */
export function parseLeaseId(text: string): string {
  const t = text.trim().replace(/^0x/i, "");
  if (t === "" || t === "0") return "";
  if (!/^[0-9a-f]{1,16}$/i.test(t)) throw new Error(`Lease '${text}' is not a hex lease id (as etcdctl prints it)`);
  return BigInt(`0x${t}`).toString();
}

export function bytesSize(n: string | number): string {
  let v = Number(n);
  for (const unit of ["B", "kB", "MB", "GB"]) {
    if (v < 1000 || unit === "GB") return `${unit === "B" ? v : v.toFixed(1)} ${unit}`;
    v /= 1000;
  }
  return `${v} B`;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The value of the input or textarea an input event came from. */
export function inputValue(e: Event): string {
  return (e.target as unknown as { value: string }).value;
}
