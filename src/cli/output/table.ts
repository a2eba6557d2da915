/**
 * github.com/olekukonko/tablewriter as etcdctl's table printer uses it: SetHeader (headers
 * upper-cased, centred), Append rows, SetAlignment(ALIGN_RIGHT), Render; cells wrap at word
 * boundaries to at most 30 columns (its MAX_ROW_WIDTH), and every newline in a cell becomes a space.
 * The output is byte for byte what etcdctl writes (see table.test.ts).
 */

/** tablewriter's MAX_ROW_WIDTH: the widest a cell grows before its words wrap. */
const WRAP_WIDTH_MAX = 30;
const PENALTY = 1e5;

/** Display width; etcdctl's cells are ASCII (ids, URLs, numbers), so a code point is one column. */
function width(s: string): number {
  return [...s].length;
}

/**
 * tablewriter's WrapWords: splits `words` into lines of at most `limit` columns, minimising the
 * sum of squared slack (a line over the limit costs PENALTY more).
 */
function wrapWords(words: string[], limit: number): string[][] {
  const n = words.length;
  const widths = words.map(width);
  const lineWidth = (i: number, j: number) => {
    let w = widths[i];
    for (let k = i + 1; k <= j; k++) w += 1 + widths[k];
    return w;
  };
  const breakAt = new Array<number>(n).fill(0);
  const cost = new Array<number>(n).fill(2 ** 31 - 1);
  for (let i = n - 1; i >= 0; i--) {
    if (lineWidth(i, n - 1) <= limit) {
      cost[i] = 0;
      breakAt[i] = n;
      continue;
    }
    for (let j = i + 1; j < n; j++) {
      const w = lineWidth(i, j - 1);
      const slack = limit - w;
      let c = slack * slack + cost[j];
      if (w > limit) c += PENALTY;
      if (c < cost[i]) {
        cost[i] = c;
        breakAt[i] = j;
      }
    }
  }
  const lines: string[][] = [];
  for (let i = 0; i < n; i = breakAt[i]) lines.push(words.slice(i, breakAt[i]));
  return lines;
}

/** tablewriter's WrapString: the limit grows to the longest word. */
function wrapString(s: string, limit: number): string[] {
  const words = s.replace(/\n/g, " ").split(" ");
  let lim = limit;
  for (const w of words) lim = Math.max(lim, width(w));
  return wrapWords(words, lim).map((l) => l.join(" "));
}

/** One cell as lines: wrapped (after reflowing its lines into one paragraph), and its width. */
function cellLines(text: string): { lines: string[]; width: number } {
  const raw = text.split("\n");
  const widest = Math.max(...raw.map(width));
  const limit = Math.min(widest, WRAP_WIDTH_MAX);
  const lines = wrapString(raw.join(" "), limit);
  return { lines, width: Math.max(limit, ...lines.map(width)) };
}

/** tablewriter's Title: '_' and '.' (unless inside a number) become spaces, trimmed, upper case. */
function title(name: string): string {
  const numOrSpace = (c: string | undefined) => c !== undefined && /[0-9 ]/.test(c);
  const rs = [...name];
  for (let i = 0; i < rs.length; i++) {
    if (rs[i] === "_") rs[i] = " ";
    else if (rs[i] === "." && ((i !== 0 && !numOrSpace(rs[i - 1])) || (i !== rs.length - 1 && !numOrSpace(rs[i + 1])))) rs[i] = " ";
  }
  const t = rs.join("").trim();
  return (t === "" && name.length > 0 ? " " : t).toUpperCase();
}

const padLeft = (s: string, w: number) => " ".repeat(Math.max(0, w - width(s))) + s;
function padCenter(s: string, w: number): string {
  const gap = w - width(s);
  if (gap <= 0) return s;
  const left = Math.floor(gap / 2);
  return " ".repeat(left) + s + " ".repeat(gap - left);
}

/** Renders a bordered table: centred upper-case headers, right-aligned cells. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  const grow = (col: number, w: number) => {
    if (widths[col] === undefined || widths[col] < w || widths[col] === 0) widths[col] = w;
  };
  const headerCells = header.map((h, i) => {
    const c = cellLines(h);
    grow(i, c.width);
    return c.lines;
  });
  const bodyCells = rows.map((row) =>
    row.map((v, i) => {
      const c = cellLines(v);
      grow(i, c.width);
      return c.lines;
    }),
  );
  const line = "+" + widths.map((w) => "-".repeat(w + 2) + "+").join("") + "\n";

  let out = line;
  const headerHeight = Math.max(0, ...headerCells.map((l) => l.length));
  for (let x = 0; x < headerHeight; x++) {
    out += "|" + widths.map((w, y) => ` ${padCenter(title(headerCells[y]?.[x] ?? ""), w)} |`).join("") + "\n";
  }
  out += line;
  for (const cells of bodyCells) {
    const height = Math.max(...cells.map((l) => l.length));
    for (let x = 0; x < height; x++) {
      out += "|" + cells.map((l, y) => ` ${padLeft(l[x] ?? "  ", widths[y])} |`).join("") + "\n";
    }
  }
  return out + line;
}
