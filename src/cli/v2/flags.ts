/**
 * Go's flag package, as etcdctl's v2 mode (urfave/cli v1) reads its flags: "-name", "--name",
 * "-name=value"; a non-bool flag takes the next argument as its value; the first argument that is not
 * a flag (or "--") ends the flags. Errors carry Go's texts ("flag provided but not defined: -x").
 */
import { parseGoDuration } from "../flags.ts";

export interface V2Flag {
  /** Its names, long first ("output", "o"). */
  names: readonly string[];
  type: "bool" | "string" | "duration";
  usage: string;
}

export type V2Values = Record<string, string | boolean | number | undefined>;

export class V2FlagError extends Error {}

/** Parses flags from the front of args; returns the values by long name and the arguments left. */
export function parseV2Flags(flags: readonly V2Flag[], args: readonly string[]): { values: V2Values; rest: string[] } {
  const values: V2Values = {};
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a.length < 2 || a[0] !== "-") break;
    if (a === "--") {
      i++;
      break;
    }
    const body = a.startsWith("--") ? a.slice(2) : a.slice(1);
    if (body === "" || body[0] === "-" || body[0] === "=") throw new V2FlagError(`bad flag syntax: ${a}`);
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const flag = flags.find((f) => f.names.includes(name));
    if (!flag) throw new V2FlagError(`flag provided but not defined: -${name}`);
    const key = flag.names[0];
    if (flag.type === "bool") {
      if (eq < 0) values[key] = true;
      else {
        const v = body.slice(eq + 1);
        if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) values[key] = true;
        else if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) values[key] = false;
        else throw new V2FlagError(`invalid boolean value ${JSON.stringify(v)} for -${name}: parse error`);
      }
      continue;
    }
    let text: string;
    if (eq >= 0) text = body.slice(eq + 1);
    else if (i + 1 < args.length) text = args[++i];
    else throw new V2FlagError(`flag needs an argument: -${name}`);
    if (flag.type === "duration") {
      try {
        values[key] = parseGoDuration(text);
      } catch {
        throw new V2FlagError(`invalid value ${JSON.stringify(text)} for flag -${name}: parse error`);
      }
    } else values[key] = text;
  }
  return { values, rest: args.slice(i) };
}
