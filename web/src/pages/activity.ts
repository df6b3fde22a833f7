// Activity: the audit trail of the global account, newest first, with
// filters by resource, actor, event type and time; changes made while the
// page is open appear at once (from the watch).
import { rolesCanReadAudit, type Ctx, type View } from "../context";
import { h } from "../dom";
import { eventLabel } from "../format";
import { keyedDebounce, stickBelowTitle } from "../ui";
import { auditTable } from "./audit";

export { auditFilter } from "../auditFeed";

type Valued = HTMLElement & { value: string };

export const eventTypes = [
  "landscape.registry.v1.SystemCreated",
  "landscape.registry.v1.SystemUpdated",
  "landscape.registry.v1.SystemRegistered",
  "landscape.registry.v1.SystemRegistrationFailed",
  "landscape.registry.v1.SystemRegistrationRestarted",
  "landscape.registry.v1.SystemDeregistered",
  "landscape.token.v1.TokenIssued",
  "landscape.token.v1.TokenConsumed",
  "landscape.token.v1.TokenRevoked",
  "landscape.formation.v1.FormationCreated",
  "landscape.formation.v1.FormationUpdated",
  "landscape.formation.v1.FormationDeleted",
  "landscape.formation.v1.FormationStateChanged",
  "landscape.formation.v1.AssignmentCreated",
  "landscape.formation.v1.AssignmentDeleted",
  "landscape.formation.v1.AssignmentStateChanged",
];

export function activityPage(ctx: Ctx, subject?: string): View {
  const table = auditTable(ctx, "Activity", "Scene");
  const subjectInput = h("ui5-input", { id: "filter-subject", "accessible-name": "Resource", placeholder: "e.g. systems/sf-prod", value: subject ?? "", "show-clear-icon": true }) as Valued;
  const actorInput = h("ui5-input", { id: "filter-actor", "accessible-name": "Actor", placeholder: "e.g. alice or service:formation", "show-clear-icon": true }) as Valued;
  const typeSelect = h("ui5-select", { id: "filter-event-type", "accessible-name": "What" }, h("ui5-option", { value: "" }, "Any change"), eventTypes.map((t) => h("ui5-option", { value: t }, eventLabel(t)))) as Valued;
  const timeSelect = h(
    "ui5-select",
    { id: "filter-time", "accessible-name": "When" },
    h("ui5-option", { value: "" }, "Any time"),
    h("ui5-option", { value: String(3600e3) }, "Last hour"),
    h("ui5-option", { value: String(86400e3) }, "Last 24 hours"),
    h("ui5-option", { value: String(7 * 86400e3) }, "Last 7 days"),
    h("ui5-option", { value: String(30 * 86400e3) }, "Last 30 days"),
  ) as Valued;

  const apply = (): Promise<void> => table.show({ subject: subjectInput.value, actor: actorInput.value, type: typeSelect.value, sinceMs: Number(timeSelect.value) || 0 });
  const applySoon = keyedDebounce(() => void apply(), 400);
  for (const el of [subjectInput, actorInput]) {
    el.addEventListener("input", () => applySoon("f"));
    el.addEventListener("change", () => applySoon("f"));
  }
  for (const el of [typeSelect, timeSelect]) el.addEventListener("change", () => void apply());
  void apply();
  const readable = rolesCanReadAudit(ctx.me.roles);

  const el = h(
    "ui5-dynamic-page",
    { class: "page", "hide-pin-button": true },
    h(
      "ui5-dynamic-page-title",
      { slot: "titleArea" },
      h("ui5-title", { slot: "heading", level: "H1", size: "H3" }, "Activity"),
      h("ui5-title", { slot: "snappedHeading", level: "H1", size: "H5" }, "Activity"),
      h("ui5-text", { slot: "subheading", class: "subheading" }, "Who changed what, newest first."),
    ),
    !readable
      ? null
      : h(
      "ui5-dynamic-page-header",
      { slot: "headerArea" },
      h(
        "div",
        { class: "filterbar", role: "search", "aria-label": "Filter activity" },
        h("div", { class: "filter" }, h("ui5-label", { for: "filter-subject" }, "Resource"), subjectInput),
        h("div", { class: "filter" }, h("ui5-label", { for: "filter-actor" }, "Actor"), actorInput),
        h("div", { class: "filter" }, h("ui5-label", { for: "filter-event-type" }, "What"), typeSelect),
        h("div", { class: "filter" }, h("ui5-label", { for: "filter-time" }, "When"), timeSelect),
      ),
    ),
    table.el,
  );
  const unstick = table.table ? stickBelowTitle(el, table.table) : () => {};
  return {
    el,
    title: "Activity",
    dispose: () => {
      table.dispose();
      unstick();
    },
  };
}
