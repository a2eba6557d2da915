/** @jsxImportSource hono/jsx/dom */
// Shows bytes the only safe way: as text children (JSX escapes them), hex when not UTF-8.
import { display } from "./bytes.ts";

export function Bytes(props: { bytes: Uint8Array; empty?: string }) {
  if (props.bytes.length === 0 && props.empty) return <span class="muted">{props.empty}</span>;
  const d = display(props.bytes);
  return d.hex ? <span class="hex" title="not UTF-8: shown as hex">0x{d.text}</span> : <span>{d.text}</span>;
}
