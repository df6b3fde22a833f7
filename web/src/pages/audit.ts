// The audit trail as a table (the Activity page and the details pages'
// Activity tabs): newest first, pages of the API as it grows, and the
// changes the watch brings added at once, each entry shown once.
import "@ui5/webcomponents-fiori/dist/illustrations/NoActivities.js";

import { ApiError, type AuditEvent } from "../api";
import { AuditFeed, displayNameOf, type AuditQuery } from "../auditFeed";
import { auditRoles, rolesCanReadAudit, type Ctx } from "../context";
import { h, replace } from "../dom";
import { dateTime, eventLabel } from "../format";
import { formationOfSubject, systemOfSubject } from "../live";
import { Messages, link } from "../ui";
import { forbiddenView, rolesText } from "./forbidden";

/**
 * subjectLink links a subject to its page, when it has one, named by the
 * resource's display name when the entry holds one (systems/sf-prod
 * otherwise).
 */
export function subjectLink(subject: string, displayName?: string): HTMLElement | string {
  const f = formationOfSubject(subject);
  const s = systemOfSubject(subject);
  const short = subject.replace(/^globalAccounts\/[^/]+\//, "");
  const text = displayName || short;
  const props = text === short ? {} : { tooltip: short };
  if (s && !subject.includes("/formations/")) return link(text, `#/systems/${encodeURIComponent(s.slice(s.lastIndexOf("/") + 1))}`, props);
  if (f) return link(text, `#/formations/${encodeURIComponent(f.slice(f.lastIndexOf("/") + 1))}`, props);
  return short;
}

/** actorLabel shows an actor: user:alice → alice; token:… → the system's side. */
export function actorLabel(actor: string | undefined): string {
  if (!actor) return "—";
  if (actor.startsWith("user:")) return actor.slice(5);
  if (actor.startsWith("token:")) return "the system's side (integration token)";
  if (actor.startsWith("service:")) return `${actor.slice(8)} service`;
  return actor;
}

export interface AuditTable {
  el: HTMLElement;
  /** table is the ui5-table (absent when the caller may not read the trail). */
  table?: HTMLElement;
  /** show lists the entries of q (and keeps following the watch for it). */
  show(q: AuditQuery): Promise<void>;
  dispose(): void;
}

/** auditForbidden is what a caller without an audit role sees instead of the trail. */
export function auditForbidden(ctx: Ctx, design: "Scene" | "Spot"): HTMLElement {
  return forbiddenView({
    title: "You may not read the activity",
    text: `The audit trail is for ${auditRoles.join(" and ")}. You (${ctx.me.subject}) hold ${rolesText(ctx.me.roles)}, which shows systems and formations but not who changed them.`,
    design,
  });
}

export function auditTable(ctx: Ctx, accessibleName: string, design: "Scene" | "Spot" = "Spot"): AuditTable {
  if (!rolesCanReadAudit(ctx.me.roles)) {
    return { el: h("div", { class: "audit" }, auditForbidden(ctx, design)), show: async () => {}, dispose() {} };
  }
  const messages = new Messages();
  const growing = h("ui5-table-growing", { slot: "features", mode: "Button", text: "More", subtext: "older entries" });
  const noData = h("div", { slot: "noData", class: "no-data" });
  const table = h(
    "ui5-table",
    { "accessible-name": accessibleName, "overflow-mode": "Popin", "loading-delay": 1000, class: "audit-table" },
    h(
      "ui5-table-header-row",
      { slot: "headerRow" },
      h("ui5-table-header-cell", { width: "20%" }, "Time"),
      h("ui5-table-header-cell", { width: "22%" }, "What"),
      h("ui5-table-header-cell", { width: "33%" }, "Resource"),
      h("ui5-table-header-cell", { width: "25%" }, "By"),
    ),
    noData,
  );
  const wrap = h("div", { class: "audit" }, messages.el, table);

  // Display names of systems and formations seen in the entries, so that
  // an entry about a token or an assignment names its system.
  const names = new Map<string, string>();
  const labelOf = (e: AuditEvent): string | undefined => {
    const own = displayNameOf(e.resource);
    if (own) return own;
    const token = /^(globalAccounts\/[^/]+\/systems\/[^/]+)\/integrationTokens\/[^/]+$/.exec(e.subject);
    if (token) return `${names.get(token[1]) ?? token[1].replace(/^globalAccounts\/[^/]+\//, "")} · integration token`;
    const assignment = /^(globalAccounts\/[^/]+\/formations\/[^/]+)\/assignments\/([^/]+)$/.exec(e.subject);
    if (assignment) {
      const sys = assignment[1].replace(/\/formations\/[^/]+$/, `/systems/${assignment[2]}`);
      return `${names.get(sys) ?? assignment[2]} in ${names.get(assignment[1]) ?? assignment[1].replace(/^.*\//, "")}`;
    }
    return undefined;
  };
  const row = (e: AuditEvent): HTMLElement =>
    h(
      "ui5-table-row",
      { "row-key": e.id, "data-type": e.type },
      h("ui5-table-cell", null, dateTime(e.time)),
      h("ui5-table-cell", { title: e.type }, eventLabel(e.type)),
      h("ui5-table-cell", null, subjectLink(e.subject, labelOf(e))),
      h("ui5-table-cell", { title: e.actor ?? "" }, actorLabel(e.actor), e.causedBy ? h("span", { class: "muted caused" }, "(in reaction to another change)") : null),
    );
  // Rows by entry id: re-rendering moves them instead of building them again.
  const rows = new Map<string, HTMLElement>();

  let forbidden = false;
  const render = (): void => {
    if (feed.loading) table.setAttribute("loading", "");
    else table.removeAttribute("loading");
    if (feed.error instanceof ApiError && feed.error.status === 403) {
      // The API refused although the roles looked right (e.g. changed meanwhile).
      if (!forbidden) replace(wrap, auditForbidden(ctx, design));
      forbidden = true;
      return;
    }
    if (feed.error) messages.show(feed.error);
    else messages.clear();
    if (feed.loading && feed.entries.length === 0) return;
    for (const e of feed.entries) {
      const n = displayNameOf(e.resource);
      if (n && /^globalAccounts\/[^/]+\/(systems|formations)\/[^/]+$/.test(e.subject)) names.set(e.subject, n);
    }
    const want = feed.entries.map((e) => {
      let r = rows.get(e.id);
      if (!r) {
        r = row(e);
        rows.set(e.id, r);
      }
      return r;
    });
    const keep = new Set(want);
    for (const [id, r] of rows) {
      if (!keep.has(r)) {
        r.remove();
        rows.delete(id);
      }
    }
    // Put the rows in order, touching only those out of place.
    let prev: Element | null = null;
    for (const r of want) {
      const next: Element | null = prev ? prev.nextElementSibling : table.querySelector(":scope > ui5-table-row");
      if (next !== r) {
        if (prev) prev.after(r);
        else table.querySelector(":scope > ui5-table-header-row")!.after(r);
      }
      prev = r;
    }
    if (feed.nextPageToken) {
      if (!growing.isConnected) table.appendChild(growing);
    } else growing.remove();
    const filtered = Boolean(feed.query.subject || feed.query.actor || feed.query.type || feed.query.sinceMs);
    if (feed.entries.length === 0 && !feed.error) {
      replace(
        noData,
        h("ui5-illustrated-message", {
          name: filtered ? "NoFilterResults" : "NoActivities",
          design: "Spot",
          "title-text": "No activity",
          "subtitle-text": filtered ? "Nothing matches these filters. Change them or choose a longer time." : "Changes will be listed here as they happen.",
        }),
      );
    } else replace(noData);
  };
  const feed = new AuditFeed(ctx.api, ctx.ga, render);
  growing.addEventListener("load-more", () => void feed.more());
  const unsubscribe = ctx.live.subscribe((e) => void feed.live(e));

  return {
    el: wrap,
    table,
    show: (q) => feed.reload(q),
    dispose: () => void unsubscribe(),
  };
}
