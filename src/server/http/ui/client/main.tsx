/** @jsxImportSource hono/jsx/dom */
// The web console at /ui: keys, watch, leases and members, all through the public JSON gateway.
import { render, useState } from "hono/jsx/dom";
import { MembersPane, LeasesPane } from "./cluster.tsx";
import { draftOf, KeyTree, KeyView, PutForm, type Draft } from "./keys.tsx";
import { WatchPane } from "./watch.tsx";

function App() {
  const [selected, setSelected] = useState<Uint8Array | null>(null);
  const [version, setVersion] = useState(0);
  const [draft, setDraft] = useState<Draft>({ key: "", value: "", lease: "" });
  const [note, setNote] = useState("");
  const changed = () => setVersion((v) => v + 1);
  return (
    <>
      <header>
        <h1>etcd-ts console</h1>
        <button onClick={changed}>Refresh</button>
      </header>
      <main>
        <section id="keys" aria-label="Keys">
          <h2>Keys</h2>
          <PutForm
            draft={draft}
            onDraft={setDraft}
            onPut={(key) => {
              setSelected(key);
              changed();
            }}
          />
          <div class="browser">
            <nav class="tree-pane" aria-label="Key tree">
              <KeyTree version={version} selected={selected} onSelect={setSelected} />
            </nav>
            <div class="detail">
              {selected ? (
                <KeyView
                  keyBytes={selected}
                  version={version}
                  onEdit={(kv) => {
                    const d = draftOf(kv);
                    setNote(d ? "" : "This key or value is not UTF-8 text; the form edits text only.");
                    if (d) setDraft(d);
                  }}
                  onDeleted={changed}
                />
              ) : (
                <p class="muted">Select a key in the tree.</p>
              )}
              {note && <p class="muted">{note}</p>}
            </div>
          </div>
        </section>
        <section id="watch" aria-label="Watch">
          <h2>Watch</h2>
          <WatchPane />
        </section>
        <section id="members" aria-label="Members">
          <h2>Members</h2>
          <MembersPane />
        </section>
        <section id="leases" aria-label="Leases">
          <h2>Leases</h2>
          <LeasesPane version={version} onUse={(id) => setDraft({ ...draft, lease: id })} onChanged={changed} />
        </section>
      </main>
    </>
  );
}

// The DOM library is not in the project's types (it would change the server's fetch and Response
// types); this module needs only this much of it.
declare const document: { getElementById(id: string): unknown };

render(<App />, document.getElementById("app") as Parameters<typeof render>[1]);
