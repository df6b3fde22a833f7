// Which systems may join a formation, and why not: the assignment rules of
// docs/API.md (system in Error, environment, exclusive types, pairing),
// checked before the call so the wizard can say it next to each system.
import { idOf, type System, type SystemType } from "./api";
import { environmentLabels } from "./format";

export interface Target {
  /** formationType id, e.g. side-by-side-extensibility-with-kyma */
  formationType: string;
  environment?: string;
  exclusive?: boolean;
  allowedSystemTypes?: string[];
  /** the formation itself, when it exists already (it does not count as "another") */
  formation?: string;
}

/** accepts reports whether the formation type takes this system type at all. */
export function accepts(t: Target, s: System): boolean {
  return !t.allowedSystemTypes || t.allowedSystemTypes.length === 0 || t.allowedSystemTypes.includes(s.type);
}

/**
 * whyNot returns the reason a system cannot join, or null when it can.
 * formationTypeOf maps the names of the system's formations to their types.
 */
export function whyNot(t: Target, s: System, types: SystemType[], formationTypeOf: Map<string, string>): string | null {
  const st = types.find((x) => idOf(x.name) === s.type);
  const typeName = st?.displayName ?? s.type;
  if (t.formation && (s.formations ?? []).includes(t.formation)) return "Already in this formation.";
  if (s.state === "ERROR") return "In Error: get a new token and pair it again first.";
  if (t.environment && st && !(st.environments ?? []).includes(t.environment as never)) {
    return `${typeName} is not available in ${environmentLabels[t.environment] ?? t.environment}.`;
  }
  if (t.exclusive) {
    const other = (s.formations ?? []).find((f) => f !== t.formation && formationTypeOf.get(f) === t.formationType);
    if (other) return `Already in formation ${idOf(other)}; a system may be in only one formation of this type.`;
  }
  if (s.state !== "REGISTERED" && st && !st.assignableBeforePairing) return `Not paired yet: ${typeName} can join only once registered.`;
  return null;
}
