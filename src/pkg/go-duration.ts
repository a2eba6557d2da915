// etcd logs durations as Go prints them; tools that parse etcd's logs read this form.

/** Go's time.Duration.String() for a span in milliseconds ("100ms", "1.234567ms", "2.5s", "1m0.5s"). */
export function goDuration(ms: number): string {
  const ns = Math.round(ms * 1e6);
  if (ns === 0) return "0s";
  if (ns < 0) return `-${goDuration(-ms)}`;
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${decimal(ns / 1e3, 3)}µs`;
  if (ns < 1e9) return `${decimal(ns / 1e6, 6)}ms`;
  let s = ns / 1e9;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${decimal(s, 9)}s`;
}

function decimal(x: number, digits: number): string {
  return x.toFixed(digits).replace(/\.?0+$/, "");
}
