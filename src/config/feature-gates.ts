import { ConfigError, InvalidValueError } from "./errors";
import { FrozenMap } from "./frozen-map";
import type { ConfigSettings, RawValue, SettingField } from "./types";
import { parseBool } from "./values";

/**
 * etcd 3.6 moved six --experimental-* switches behind --feature-gates (and 3.7 removed the
 * switches); 3.6 and 3.7 added gates of their own. Each gate that stands for a switch names the
 * switch's field, so either spelling sets the same Config field.
 */
export interface FeatureGate {
  readonly name: string;
  readonly byDefault: boolean;
  readonly stage: "alpha" | "beta";
  /** The boolean field of the --experimental-* flag this gate replaced. */
  readonly field?: BoolField;
}

type BoolField = { [K in SettingField]: ConfigSettings[K] extends boolean ? K : never }[SettingField];

export const FEATURE_GATES: readonly FeatureGate[] = Object.freeze([
  { name: "CompactHashCheck", byDefault: false, stage: "alpha", field: "compactHashCheckEnabled" },
  { name: "FastLeaseKeepAlive", byDefault: true, stage: "beta" },
  { name: "InitialCorruptCheck", byDefault: false, stage: "alpha", field: "initialCorruptCheck" },
  { name: "LeaseCheckpoint", byDefault: false, stage: "alpha", field: "enableLeaseCheckpoint" },
  { name: "LeaseCheckpointPersist", byDefault: false, stage: "alpha", field: "leaseCheckpointPersist" },
  { name: "PriorityRequest", byDefault: false, stage: "alpha" },
  { name: "SetMemberLocalAddr", byDefault: false, stage: "alpha" },
  { name: "StopGRPCServiceOnDefrag", byDefault: false, stage: "alpha", field: "stopGrpcServiceOnDefrag" },
  { name: "TxnModeWriteWithSharedBuffer", byDefault: true, stage: "beta", field: "txnModeWriteWithSharedBuffer" },
] as const satisfies readonly FeatureGate[]);

/** Switch every alpha (beta) gate the value does not name itself, as in Kubernetes' feature gates. */
const ALL_OF_STAGE: Readonly<Record<string, FeatureGate["stage"]>> = { AllAlpha: "alpha", AllBeta: "beta" };

const BY_NAME = new Map(FEATURE_GATES.map((g) => [g.name, g]));

export function knownGateNames(): string[] {
  return [...Object.keys(ALL_OF_STAGE), ...FEATURE_GATES.map((g) => g.name)];
}

/**
 * Parses --feature-gates ("InitialCorruptCheck=true,StopGRPCServiceOnDefrag=false") into the gates
 * it names, in etcd's syntax: comma-separated Name=bool pairs with strconv.ParseBool's spellings;
 * the last mention of a name wins. Resolving against defaults happens in resolveFeatureGates.
 */
export function parseFeatureGates(text: string): ReadonlyMap<string, boolean> {
  const named = new Map<string, boolean>();
  for (const part of text.split(",")) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    const name = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (!BY_NAME.has(name) && !(name in ALL_OF_STAGE)) {
      throw new InvalidValueError(`unknown feature gate '${name}'; the known gates are ${knownGateNames().join(", ")}`);
    }
    if (eq < 0) throw new InvalidValueError(`feature gate '${name}' needs a value: write ${name}=true or ${name}=false`);
    try {
      named.set(name, parseBool(part.slice(eq + 1)));
    } catch {
      throw new InvalidValueError(`feature gate '${name}' needs true or false, not '${part.slice(eq + 1).trim()}'`);
    }
  }
  return new FrozenMap(named);
}

export interface ResolvedGates {
  /** Every known gate → enabled. */
  readonly gates: ReadonlyMap<string, boolean>;
  /** The gate-backed fields, set to their gate's value. */
  readonly fields: Partial<Record<BoolField, boolean>>;
  /** Fields whose value came from --feature-gates rather than their own flag. */
  readonly fromGates: readonly BoolField[];
}

/**
 * Combines --feature-gates with the --experimental-* switches that stand for gates. A switch set
 * explicitly counts like naming its gate; naming a gate both ways with different values is an
 * error naming both places. The same value twice is fine (etcd 3.6 refuses even that, which only
 * makes upgrades harder).
 */
export function resolveFeatureGates(values: ConfigSettings, raws: ReadonlyMap<SettingField, RawValue>): ResolvedGates {
  const named = values.featureGates;
  const gatesRaw = raws.get("featureGates");
  const gates = new Map<string, boolean>();
  /** Gates whose value --feature-gates decided (by name, or through AllAlpha/AllBeta). */
  const decided = new Set<string>();
  for (const gate of FEATURE_GATES) {
    const all = Object.keys(ALL_OF_STAGE).find((name) => ALL_OF_STAGE[name] === gate.stage && named.has(name));
    const value = named.get(gate.name) ?? (all === undefined ? undefined : named.get(all));
    gates.set(gate.name, value ?? gate.byDefault);
    if (value !== undefined) decided.add(gate.name);
  }
  const fields: Partial<Record<BoolField, boolean>> = {};
  const fromGates: BoolField[] = [];
  for (const gate of FEATURE_GATES) {
    if (gate.field === undefined) continue;
    const raw = raws.get(gate.field);
    const switchValue = values[gate.field];
    if (raw !== undefined && raw.source !== "default") {
      const gateValue = named.get(gate.name);
      if (gateValue !== undefined && gateValue !== switchValue) {
        throw new ConfigError(
          `${raw.setting}=${switchValue}${raw.where} conflicts with ${gatesRaw?.setting ?? "--feature-gates"} ${gate.name}=${gateValue}${gatesRaw?.where ?? ""}: ` +
            `both set the ${gate.name} feature; keep only --feature-gates=${gate.name}=…`,
          raw.setting,
        );
      }
      // An explicit switch beats AllAlpha/AllBeta, as a gate named on its own would.
      gates.set(gate.name, switchValue);
    } else if (decided.has(gate.name)) {
      fromGates.push(gate.field);
    }
    fields[gate.field] = gates.get(gate.name)!;
  }
  return { gates: new FrozenMap(gates), fields, fromGates };
}
