/** @jsxImportSource hono/jsx/dom */
// The key browser: a lazily expanded tree, the selected key's value and metadata, put and delete.
import { useEffect, useState } from "hono/jsx/dom";
import { deleteKey, getKey, putKey, rangeKeys, type KeyValue } from "./api.ts";
import { Bytes } from "./bytes-view.tsx";
import { asText, equal, toHex, utf8 } from "./bytes.ts";
import { errorText, hexId, inputValue, parseLeaseId } from "./format.ts";
import { listChildren, type ChildPage, type TreeChild } from "./tree.ts";

/** Children per page and the range limit of every read the tree makes. */
export const TREE_PAGE_SIZE = 100;

interface TreeProps {
  /** Bumped after every write the console makes, so open directories list again. */
  version: number;
  selected: Uint8Array | null;
  onSelect(key: Uint8Array): void;
}

function Listing(props: TreeProps & { prefix: Uint8Array }) {
  const [pages, setPages] = useState<ChildPage[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState("");
  const load = (from: Uint8Array | null, keep: ChildPage[]) => {
    setLoading(true);
    listChildren(rangeKeys, props.prefix, { from, pageSize: TREE_PAGE_SIZE })
      .then((page) => {
        setPages([...keep, page]);
        setError("");
      })
      .catch((e) => setError(errorText(e)))
      .finally(() => setLoading(false));
  };
  useEffect(() => load(null, []), [props.version]);
  const children = pages.flatMap((p) => p.children);
  const next = pages.length ? pages[pages.length - 1].next : null;
  return (
    <ul class="tree">
      {children.map((c) => (
        <Node key={toHex(c.path) + (c.dir ? "/" : "")} child={c} {...props} />
      ))}
      {!loading && !error && children.length === 0 && <li class="muted">(no keys)</li>}
      {loading && <li class="muted">loading…</li>}
      {error && <li class="error">{error}</li>}
      {!loading && next && (
        <li>
          <button class="link" onClick={() => load(next, pages)}>more…</button>
        </li>
      )}
    </ul>
  );
}

function Node(props: TreeProps & { child: TreeChild }) {
  const [open, setOpen] = useState(false);
  const c = props.child;
  if (c.dir) {
    return (
      <li class="dir">
        <button class="link" aria-expanded={open ? "true" : "false"} onClick={() => setOpen(!open)}>
          {open ? "▾ " : "▸ "}
          <Bytes bytes={c.name} />
        </button>
        {open && <Listing prefix={c.path} version={props.version} selected={props.selected} onSelect={props.onSelect} />}
      </li>
    );
  }
  const selected = props.selected !== null && equal(props.selected, c.path);
  return (
    <li class={selected ? "leaf selected" : "leaf"}>
      <button class="link" data-key={toHex(c.path)} onClick={() => props.onSelect(c.path)}>
        <Bytes bytes={c.name} empty="(the prefix itself)" />
      </button>
    </li>
  );
}

export function KeyTree(props: TreeProps) {
  return <Listing prefix={new Uint8Array(0)} {...props} />;
}

/** The selected key: value, revisions, version, lease; and a delete button. */
export function KeyView(props: { keyBytes: Uint8Array; version: number; onEdit(kv: KeyValue): void; onDeleted(): void }) {
  const [kv, setKv] = useState<KeyValue | null | undefined>(undefined);
  const [error, setError] = useState("");
  useEffect(() => {
    setKv(undefined);
    getKey(props.keyBytes)
      .then((r) => {
        setKv(r);
        setError("");
      })
      .catch((e) => setError(errorText(e)));
  }, [toHex(props.keyBytes), props.version]);
  const remove = async () => {
    if (!confirm("Delete this key?")) return;
    try {
      await deleteKey(props.keyBytes);
      props.onDeleted();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <div class="key-view" aria-label="Key">
      <h3>
        <Bytes bytes={props.keyBytes} />
      </h3>
      {error && <p class="error">{error}</p>}
      {kv === undefined && !error && <p class="muted">loading…</p>}
      {kv === null && <p class="muted">This key does not exist (any more).</p>}
      {kv && (
        <>
          <dl class="meta">
            <dt>create revision</dt>
            <dd data-field="create_revision">{kv.createRevision}</dd>
            <dt>mod revision</dt>
            <dd data-field="mod_revision">{kv.modRevision}</dd>
            <dt>version</dt>
            <dd data-field="version">{kv.version}</dd>
            <dt>lease</dt>
            <dd data-field="lease">{kv.lease === "0" ? "none" : hexId(kv.lease)}</dd>
            <dt>size</dt>
            <dd>{kv.value.length} bytes</dd>
          </dl>
          <pre class="value" aria-label="Value">
            <Bytes bytes={kv.value} empty="(empty value)" />
          </pre>
          <div class="actions">
            <button onClick={() => props.onEdit(kv)}>Edit</button>
            <button class="danger" onClick={remove}>
              Delete
            </button>
          </div>
        </>
      )}
    </div>
  );
}

export interface Draft {
  key: string;
  value: string;
  lease: string;
}

/** Put a key (text key and value, optional lease id in hex). */
export function PutForm(props: { draft: Draft; onDraft(d: Draft): void; onPut(key: Uint8Array): void }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const d = props.draft;
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      if (d.key === "") throw new Error("A key is required");
      setBusy(true);
      const key = utf8(d.key);
      await putKey(key, utf8(d.value), parseLeaseId(d.lease));
      props.onPut(key);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const field = (name: keyof Draft) => (e: Event) => props.onDraft({ ...d, [name]: inputValue(e) });
  return (
    <form class="put" aria-label="Put a key" onSubmit={submit}>
      <label>
        key <input name="key" value={d.key} onInput={field("key")} placeholder="/app/config" autocomplete="off" />
      </label>
      <label>
        value <textarea name="value" value={d.value} onInput={field("value")} rows={3} />
      </label>
      <label>
        lease <input name="lease" value={d.lease} onInput={field("lease")} placeholder="optional, hex id" autocomplete="off" />
      </label>
      <button type="submit" disabled={busy}>
        Put
      </button>
      {error && <span class="error">{error}</span>}
    </form>
  );
}

/** The draft that edits an existing key, when its bytes are text (binary keys are not editable here). */
export function draftOf(kv: KeyValue): Draft | null {
  const key = asText(kv.key);
  const value = asText(kv.value);
  if (key === null || value === null) return null;
  return { key, value, lease: kv.lease === "0" ? "" : hexId(kv.lease) };
}
