// The "you may not" page: shown instead of content the caller's role may
// not read (the audit trail for a viewer) and when the API refuses the
// sign-in itself (a JWT without a role Landscape knows). It says what is
// refused, which role would allow it and what the caller holds.
import "@ui5/webcomponents-fiori/dist/illustrations/tnt/Lock.js";

import type { Child } from "../dom";
import { h } from "../dom";

export interface Forbidden {
  /** title says what is refused, e.g. "You may not read the activity". */
  title: string;
  /** text says which role allows it and what the caller holds. */
  text: string;
  /** design of the illustration: Scene for a page, Spot inside a tab. */
  design?: "Scene" | "Dialog" | "Spot";
}

export function forbiddenView(f: Forbidden, ...actions: Child[]): HTMLElement {
  return h(
    "ui5-illustrated-message",
    { name: "TntLock", design: f.design ?? "Auto", "title-text": f.title, "subtitle-text": f.text, class: "forbidden", "data-forbidden": true, role: "alert" },
    ...actions,
  );
}

/** rolesText names roles for a sentence: "system-landscape-viewer", or "no role". */
export function rolesText(roles: string[] | undefined): string {
  const r = roles ?? [];
  if (r.length === 0) return "no role";
  return `${r.length === 1 ? "the role" : "the roles"} ${r.join(", ")}`;
}
