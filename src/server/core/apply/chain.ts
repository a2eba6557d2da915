import type { CompactionHashes } from "../compact-hash.ts";
import type { MemberState } from "../member-state.ts";
import { AuthApplier } from "./auth.ts";
import { BackendApplier } from "./backend.ts";
import { CorruptApplier } from "./corrupt.ts";
import { QuotaApplier } from "./quota.ts";
import type { Applier } from "./results.ts";

/** etcd's order: a corrupt member refuses first, then the quota, then the user's rights, then the effect. */
export function applierChain(state: MemberState, opts: ConstructorParameters<typeof BackendApplier>[1] & { compactHashes?: CompactionHashes }): Applier {
  return new CorruptApplier(state, new QuotaApplier(state, new AuthApplier(state, new BackendApplier(state, opts))));
}
