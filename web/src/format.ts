// Formatting shared by the pages: states, times, durations, filters.
import type { FormationState, SystemState } from "./api";

/** Fiori semantic colour of a state (ui5-tag design). */
export function stateDesign(state: SystemState | FormationState | undefined): string {
  switch (state) {
    case "REGISTERED":
    case "READY":
      return "Positive";
    case "ERROR":
      return "Negative";
    case "SYNCHRONIZING":
      return "Critical";
    case "PENDING":
      return "Information";
    default:
      return "Neutral";
  }
}

const stateLabels: Record<string, string> = {
  REGISTERED: "Registered",
  PENDING: "Pending",
  ERROR: "Error",
  READY: "Ready",
  SYNCHRONIZING: "Synchronizing",
};

export function stateLabel(state: string | undefined): string {
  return state ? (stateLabels[state] ?? state) : "Unknown";
}

export const environmentLabels: Record<string, string> = {
  CLOUD_FOUNDRY: "Cloud Foundry",
  KYMA: "Kyma",
};

/** Seconds of a protobuf Duration in JSON ("604800s"). */
export function durationSeconds(d: string | undefined): number {
  if (!d) return 0;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(d);
  return m ? Number(m[1]) : 0;
}

/** "7 days", "10 minutes", "1 hour". */
export function humanDuration(seconds: number): string {
  const units: Array<[number, string]> = [
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
    [1, "second"],
  ];
  for (const [size, name] of units) {
    if (seconds >= size && seconds % size === 0) {
      const n = seconds / size;
      return `${n} ${name}${n === 1 ? "" : "s"}`;
    }
  }
  return `${Math.round(seconds)} seconds`;
}

/**
 * countdown says how long until an expiry: "9:58" under an hour,
 * "6 d 23 h 59 min" beyond; "expired" when past.
 */
export function countdown(msLeft: number): string {
  if (msLeft <= 0) return "expired";
  const s = Math.floor(msLeft / 1000);
  if (s < 3600) {
    const m = Math.floor(s / 60);
    return `${m}:${String(s % 60).padStart(2, "0")}`;
  }
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d} d ${hh} h ${mm} min` : `${hh} h ${mm} min`;
}

/** A date and time in the reader's locale, e.g. "6 Dec 2026, 07:12". */
export function dateTime(iso: string | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** "just now", "5 min ago", "3 h ago", else the date. */
export function relativeTime(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "—";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return "—";
  const s = Math.round((now - t) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return dateTime(iso);
}

/** A list filter (docs/API.md): terms joined by AND, strings quoted. */
export function listFilter(terms: Record<string, string | undefined>, enums: string[] = ["state"]): string {
  return Object.entries(terms)
    .filter(([, v]) => v)
    .map(([k, v]) => (enums.includes(k) ? `${k} = ${v}` : `${k} = "${String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`))
    .join(" AND ");
}

/** The rules of a display name (docs/API.md): 1–128 printable characters, a letter or digit at each end. */
export function displayNameProblem(name: string): string | null {
  if (name.length === 0) return "Enter a name.";
  if ([...name].length > 128) return "At most 128 characters.";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return "Only printable characters.";
  if (!/^[\p{L}\p{N}]/u.test(name) || !/[\p{L}\p{N}]$/u.test(name)) return "Start and end with a letter or digit.";
  return null;
}

/** A short label of a CloudEvent type: landscape.registry.v1.SystemRegistered → System registered. */
export function eventLabel(type: string): string {
  const last = type.slice(type.lastIndexOf(".") + 1);
  const words = last.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * Summary of a member's configuration for a table cell: "—" when the
 * system sent none (or an empty object), else the number of top-level keys.
 */
export function configurationSummary(config: Record<string, unknown> | undefined): string {
  const n = config && typeof config === "object" ? Object.keys(config).length : 0;
  if (n === 0) return "—";
  return n === 1 ? "1 key" : `${n} keys`;
}

/** The configuration pretty-printed (two spaces, keys in the order received). */
export function configurationJSON(config: Record<string, unknown> | undefined): string {
  return JSON.stringify(config ?? {}, null, 2);
}
