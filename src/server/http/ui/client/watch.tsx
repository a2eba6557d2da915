/** @jsxImportSource hono/jsx/dom */
// The live pane: one streaming /v3/watch on a prefix chosen by the user; newest events first.
import { useEffect, useRef, useState } from "hono/jsx/dom";
import { watchPrefix, type WatchEvent } from "./api.ts";
import { Bytes } from "./bytes-view.tsx";
import { utf8 } from "./bytes.ts";
import { errorText, inputValue } from "./format.ts";

/** Events kept on screen; older ones scroll away. */
const EVENTS_MAX = 500;

type State = { kind: "idle" } | { kind: "connecting" } | { kind: "watching" } | { kind: "error"; message: string };

export function WatchPane() {
  const [prefix, setPrefix] = useState("");
  const [state, setState] = useState<State>({ kind: "idle" });
  const [events, setEvents] = useState<(WatchEvent & { seq: number })[]>([]);
  const abort = useRef<AbortController | null>(null);
  const seq = useRef(0);
  const stop = () => {
    abort.current?.abort();
    abort.current = null;
  };
  useEffect(() => stop, []);
  const start = (e: Event) => {
    e.preventDefault();
    stop();
    const ctl = new AbortController();
    abort.current = ctl;
    setState({ kind: "connecting" });
    watchPrefix(
      utf8(prefix),
      {
        onCreated: () => setState({ kind: "watching" }),
        onEvents: (batch) =>
          setEvents((old) => [...batch.map((ev) => ({ ...ev, seq: seq.current++ })).reverse(), ...old].slice(0, EVENTS_MAX)),
      },
      ctl.signal,
    ).catch((err) => {
      if (!ctl.signal.aborted) setState({ kind: "error", message: errorText(err) });
    });
  };
  const label =
    state.kind === "watching" ? `watching “${prefix}”…` : state.kind === "connecting" ? "connecting…" : state.kind === "error" ? state.message : "not watching";
  return (
    <div class="watch">
      <form aria-label="Watch a prefix" onSubmit={start}>
        <label>
          prefix <input name="prefix" value={prefix} onInput={(e: Event) => setPrefix(inputValue(e))} autocomplete="off" />
        </label>
        <button type="submit">Watch</button>
        <button
          type="button"
          onClick={() => {
            stop();
            setState({ kind: "idle" });
          }}
        >
          Stop
        </button>
        <button type="button" onClick={() => setEvents([])}>
          Clear
        </button>
      </form>
      <p class={state.kind === "error" ? "error" : "muted"} data-state={state.kind}>
        {label}
      </p>
      <table class="events" aria-label="Watch events">
        <thead>
          <tr>
            <th>rev</th>
            <th>type</th>
            <th>key</th>
            <th>value</th>
          </tr>
        </thead>
        <tbody>
          {events.map((ev) => (
            <tr key={ev.seq} class={ev.type === "DELETE" ? "del" : "put"}>
              <td>{ev.kv.modRevision === "0" ? ev.revision : ev.kv.modRevision}</td>
              <td>{ev.type}</td>
              <td>
                <Bytes bytes={ev.kv.key} />
              </td>
              <td class="clip">
                <Bytes bytes={ev.kv.value} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
