// The audit trail as the console shows it: pages of auditEvents, newest
// first, a filter built from the Activity page's fields, and the changes
// that arrive over the watch while the page is open, added in place. No DOM
// here, so the rules are tested with a mocked fetch.
import type { Api, AuditEvent } from "./api";
import type { LiveEvent } from "./live";

/** What the Activity page filters by; empty fields do not filter. */
export interface AuditQuery {
  /** A resource name, or its part after globalAccounts/{ga}/ (systems/sf-prod). */
  subject?: string;
  /** An actor (user:alice, token:…, service:formation), or a bare user name. */
  actor?: string;
  /** A CloudEvent type. */
  type?: string;
  /** Only entries of the last sinceMs milliseconds. */
  sinceMs?: number;
}

const quote = (v: string): string => `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/** fullSubject completes a short resource name with the global account. */
export function fullSubject(ga: string, subject: string | undefined): string {
  const s = (subject ?? "").trim().replace(/^\/+/, "");
  if (!s || s.startsWith("globalAccounts/")) return s;
  return `globalAccounts/${ga}/${s}`;
}

/** fullActor reads a bare name as a user: alice → user:alice. */
export function fullActor(actor: string | undefined): string {
  const a = (actor ?? "").trim();
  if (!a || /^(user|token|service):/.test(a)) return a;
  return `user:${a}`;
}

/** auditFilter builds the audit trail's filter (docs/API.md, "Audit trail"). */
export function auditFilter(ga: string, q: AuditQuery, now = Date.now()): string {
  const terms: string[] = [];
  const subject = fullSubject(ga, q.subject);
  if (subject) terms.push(`subject = ${quote(subject)}`);
  const actor = fullActor(q.actor);
  if (actor) terms.push(`actor = ${quote(actor)}`);
  if (q.type) terms.push(`type = ${quote(q.type)}`);
  if (q.sinceMs) terms.push(`time >= ${quote(new Date(now - q.sinceMs).toISOString())}`);
  return terms.join(" AND ");
}

// The fields of an event's data that hold its resource (docs/API.md,
// "Events"): {"revision", "system": {…}} and the like.
const resourceFields = ["system", "formation", "assignment", "token"];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** auditEntryOf turns an event of the watch into the entry the audit trail will hold. */
export function auditEntryOf(e: LiveEvent): AuditEvent {
  const d = e.data ?? {};
  const nested = resourceFields.map((k) => d[k]).find(isObject);
  return {
    id: e.id,
    time: e.time ?? new Date().toISOString(),
    type: e.type,
    subject: e.subject,
    actor: e.actor,
    causedBy: e.causedby,
    revision: d.revision === undefined ? undefined : String(d.revision),
    resource: nested ?? d,
  };
}

/** displayNameOf finds the display name in an entry's resource, if it has one. */
export function displayNameOf(resource: Record<string, unknown> | undefined): string | undefined {
  if (!resource) return undefined;
  if (typeof resource.displayName === "string" && resource.displayName) return resource.displayName;
  for (const k of resourceFields) {
    const v = resource[k];
    if (isObject(v) && typeof v.displayName === "string" && v.displayName) return v.displayName;
  }
  return undefined;
}

/** matches reports whether an entry passes the query, as the server's filter would. */
export function matches(ga: string, q: AuditQuery, e: AuditEvent, now = Date.now()): boolean {
  const subject = fullSubject(ga, q.subject);
  if (subject && e.subject !== subject) return false;
  const actor = fullActor(q.actor);
  if (actor && e.actor !== actor) return false;
  if (q.type && e.type !== q.type) return false;
  if (q.sinceMs && Date.parse(e.time) < now - q.sinceMs) return false;
  return true;
}

const millis = (iso: string): number => {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : t;
};

/**
 * AuditFeed holds what the audit table shows. reload asks for the first
 * page of a query, more for the next, live adds a change from the watch
 * (once: entries are keyed by their CloudEvent id). onChange runs after
 * every change of entries, nextPageToken, error or loading.
 */
export class AuditFeed {
  entries: AuditEvent[] = [];
  nextPageToken = "";
  error: unknown = undefined;
  loading = false;
  query: AuditQuery = {};
  private ids = new Set<string>();
  private seq = 0;
  private reloading = false;
  // Changes from the watch that arrive while a page is on its way: added
  // when it is in, so a reload neither loses nor repeats them.
  private pending: AuditEvent[] = [];

  constructor(
    private readonly api: Pick<Api, "auditEvents">,
    private readonly ga: string,
    private readonly onChange: () => void = () => {},
    readonly pageSize = 50,
  ) {}

  /** reload shows the first page of q. */
  async reload(q: AuditQuery = this.query): Promise<void> {
    this.query = q;
    const n = ++this.seq;
    this.pending = [];
    this.loading = true;
    this.reloading = true;
    this.onChange();
    try {
      const page = await this.api.auditEvents(this.ga, { pageSize: this.pageSize, filter: auditFilter(this.ga, q) });
      if (n !== this.seq) return;
      this.entries = [];
      this.ids.clear();
      this.append(page.auditEvents ?? []);
      this.nextPageToken = page.nextPageToken ?? "";
      this.error = undefined;
      for (const e of this.pending.splice(0)) this.insert(e);
    } catch (err) {
      if (n !== this.seq) return;
      this.entries = [];
      this.ids.clear();
      this.nextPageToken = "";
      this.error = err;
    } finally {
      if (n === this.seq) {
        this.loading = false;
        this.reloading = false;
        this.onChange();
      }
    }
  }

  /** more appends the next page, if there is one. */
  async more(): Promise<void> {
    if (!this.nextPageToken || this.loading) return;
    const n = this.seq;
    this.loading = true;
    this.onChange();
    try {
      const page = await this.api.auditEvents(this.ga, { pageSize: this.pageSize, filter: auditFilter(this.ga, this.query), pageToken: this.nextPageToken });
      if (n !== this.seq) return;
      this.append(page.auditEvents ?? []);
      this.nextPageToken = page.nextPageToken ?? "";
      this.error = undefined;
    } catch (err) {
      if (n !== this.seq) return;
      this.error = err;
    } finally {
      if (n === this.seq) {
        this.loading = false;
        this.onChange();
      }
    }
  }

  /** live adds a change from the watch when it passes the query; true when it was added. */
  live(e: LiveEvent): boolean {
    if (!e.id || !e.type || !e.subject) return false;
    const entry = auditEntryOf(e);
    if (!matches(this.ga, this.query, entry)) return false;
    if (this.reloading) {
      this.pending.push(entry);
      return false;
    }
    if (this.error) return false;
    const added = this.insert(entry);
    if (added) this.onChange();
    return added;
  }

  private append(list: AuditEvent[]): void {
    for (const e of list) {
      if (this.ids.has(e.id)) continue;
      this.ids.add(e.id);
      this.entries.push(e);
    }
  }

  // insert puts an entry in time order (newest first), once.
  private insert(e: AuditEvent): boolean {
    if (this.ids.has(e.id)) return false;
    const t = millis(e.time);
    let i = 0;
    while (i < this.entries.length && millis(this.entries[i].time) > t) i++;
    // An entry older than everything shown belongs to a later page.
    if (i === this.entries.length && this.nextPageToken) return false;
    this.ids.add(e.id);
    this.entries.splice(i, 0, e);
    return true;
  }
}
