import { describe, expect, it } from "vitest";
import { Api, ApiError, type AuditEvent } from "../src/api";
import { AuditFeed, auditEntryOf, auditFilter, displayNameOf, fullActor, fullSubject, matches } from "../src/auditFeed";
import type { LiveEvent } from "../src/live";

const ga = "acme";
const sys = "globalAccounts/acme/systems/sf-prod";

function entry(id: string, time: string, over: Partial<AuditEvent> = {}): AuditEvent {
  return { id, time, type: "landscape.registry.v1.SystemUpdated", subject: sys, actor: "user:alice", revision: "1", resource: { name: sys }, ...over };
}

/** mockApi answers auditEvents from pages keyed by pageToken ("" = first) and records the URLs. */
function mockApi(pages: Record<string, { auditEvents?: AuditEvent[]; nextPageToken?: string } | Response>) {
  const urls: string[] = [];
  const gates: Array<() => void> = [];
  let hold = false;
  const api = new Api(
    () => "jwt",
    async (url) => {
      urls.push(url);
      if (hold) await new Promise<void>((r) => gates.push(r));
      const q = new URL(url, "http://x").searchParams;
      const p = pages[q.get("pageToken") ?? ""];
      if (p instanceof Response) return p;
      return new Response(JSON.stringify(p ?? {}), { status: 200 });
    },
  );
  return {
    api,
    urls,
    hold() {
      hold = true;
    },
    release() {
      hold = false;
      for (const g of gates.splice(0)) g();
    },
  };
}

describe("audit filter", () => {
  it("completes short names and quotes every string", () => {
    expect(fullSubject(ga, "systems/sf-prod")).toBe(sys);
    expect(fullSubject(ga, sys)).toBe(sys);
    expect(fullSubject(ga, " ")).toBe("");
    expect(fullActor("alice")).toBe("user:alice");
    expect(fullActor("service:formation")).toBe("service:formation");
    const now = Date.parse("2026-12-06T12:00:00Z");
    expect(auditFilter(ga, { subject: "systems/sf-prod", actor: "alice", type: "landscape.registry.v1.SystemRegistered", sinceMs: 3600e3 }, now)).toBe(
      `subject = "${sys}" AND actor = "user:alice" AND type = "landscape.registry.v1.SystemRegistered" AND time >= "2026-12-06T11:00:00.000Z"`,
    );
    expect(auditFilter(ga, { actor: 'a"b\\c' })).toBe('actor = "user:a\\"b\\\\c"');
    expect(auditFilter(ga, {})).toBe("");
  });

  it("matches a live change as the server's filter would", () => {
    const now = Date.parse("2026-12-06T12:00:00Z");
    const e = entry("e1", "2026-12-06T11:59:00Z");
    expect(matches(ga, {}, e, now)).toBe(true);
    expect(matches(ga, { subject: "systems/sf-prod" }, e, now)).toBe(true);
    expect(matches(ga, { subject: "systems/other" }, e, now)).toBe(false);
    expect(matches(ga, { actor: "alice" }, e, now)).toBe(true);
    expect(matches(ga, { actor: "bob" }, e, now)).toBe(false);
    expect(matches(ga, { type: "landscape.registry.v1.SystemRegistered" }, e, now)).toBe(false);
    expect(matches(ga, { sinceMs: 30e3 }, e, now)).toBe(false);
  });

  it("reads a watch event as an audit entry: the resource out of the event's data", () => {
    const ev: LiveEvent = { id: "e9", type: "t", subject: sys, time: "2026-12-06T12:00:00Z", actor: "service:formation", causedby: "e8", data: { revision: "7", system: { name: sys, displayName: "SF prod" } } };
    expect(auditEntryOf(ev)).toEqual({ id: "e9", type: "t", subject: sys, time: "2026-12-06T12:00:00Z", actor: "service:formation", causedBy: "e8", revision: "7", resource: { name: sys, displayName: "SF prod" } });
    const bare: LiveEvent = { id: "e10", type: "t", subject: sys, data: { name: sys } };
    expect(auditEntryOf(bare).resource).toEqual({ name: sys });
    expect(auditEntryOf(bare).revision).toBeUndefined();
  });

  it("finds the display name of an entry's resource, flat or nested", () => {
    expect(displayNameOf({ name: sys, displayName: "SF prod" })).toBe("SF prod");
    expect(displayNameOf({ revision: "3", formation: { displayName: "Extensions" } })).toBe("Extensions");
    expect(displayNameOf({ name: "globalAccounts/acme/systems/a/integrationTokens/t" })).toBeUndefined();
    expect(displayNameOf(undefined)).toBeUndefined();
  });
});

describe("AuditFeed", () => {
  it("asks for the first page with the filter, then grows with the page token", async () => {
    const m = mockApi({
      "": { auditEvents: [entry("e3", "2026-12-06T10:03:00Z"), entry("e2", "2026-12-06T10:02:00Z")], nextPageToken: "p2" },
      p2: { auditEvents: [entry("e2", "2026-12-06T10:02:00Z"), entry("e1", "2026-12-06T10:01:00Z")] },
    });
    let changes = 0;
    const feed = new AuditFeed(m.api, ga, () => changes++, 2);
    await feed.reload({ type: "landscape.registry.v1.SystemUpdated" });
    expect(m.urls[0]).toBe(`/v1/globalAccounts/acme/auditEvents?pageSize=2&filter=${encodeURIComponent('type = "landscape.registry.v1.SystemUpdated"').replace(/%20/g, "+")}`);
    expect(feed.entries.map((e) => e.id)).toEqual(["e3", "e2"]);
    expect(feed.nextPageToken).toBe("p2");
    expect(feed.loading).toBe(false);
    await feed.more();
    expect(new URL(m.urls[1], "http://x").searchParams.get("pageToken")).toBe("p2");
    expect(new URL(m.urls[1], "http://x").searchParams.get("filter")).toBe('type = "landscape.registry.v1.SystemUpdated"');
    // e2 came on both pages (a change between the calls): shown once.
    expect(feed.entries.map((e) => e.id)).toEqual(["e3", "e2", "e1"]);
    expect(feed.nextPageToken).toBe("");
    await feed.more(); // nothing more: no call
    expect(m.urls.length).toBe(2);
    expect(changes).toBeGreaterThanOrEqual(4);
  });

  it("keeps growing through an empty page that still has a next page token", async () => {
    const m = mockApi({ "": { auditEvents: [], nextPageToken: "p2" }, p2: { auditEvents: [entry("e1", "2026-12-06T10:01:00Z")] } });
    const feed = new AuditFeed(m.api, ga);
    await feed.reload({});
    expect(feed.entries).toEqual([]);
    expect(feed.nextPageToken).toBe("p2");
    await feed.more();
    expect(feed.entries.map((e) => e.id)).toEqual(["e1"]);
  });

  it("adds a matching change from the watch on top, once, and skips others", async () => {
    const m = mockApi({ "": { auditEvents: [entry("e2", "2026-12-06T10:02:00Z"), entry("e1", "2026-12-06T10:01:00Z")] } });
    const feed = new AuditFeed(m.api, ga);
    await feed.reload({ subject: "systems/sf-prod" });
    const ev: LiveEvent = { id: "e3", type: "landscape.registry.v1.SystemRegistered", subject: sys, time: "2026-12-06T10:03:00Z", actor: "token:globalAccounts/acme/integrationTokens/t1" };
    expect(feed.live(ev)).toBe(true);
    expect(feed.live(ev)).toBe(false); // the same event again (a resumed watch): once
    expect(feed.live({ ...ev, id: "e4", subject: "globalAccounts/acme/systems/other" })).toBe(false);
    expect(feed.entries.map((e) => e.id)).toEqual(["e3", "e2", "e1"]);
    expect(feed.entries[0].actor).toBe("token:globalAccounts/acme/integrationTokens/t1");
    // A change that is older than the newest shown goes in time order.
    expect(feed.live({ ...ev, id: "e1b", time: "2026-12-06T10:01:30Z" })).toBe(true);
    expect(feed.entries.map((e) => e.id)).toEqual(["e3", "e2", "e1b", "e1"]);
    // The next reload brings e3 from the server: still once.
    const m2 = mockApi({ "": { auditEvents: [entry("e3", ev.time!), entry("e2", "2026-12-06T10:02:00Z")] } });
    const feed2 = new AuditFeed(m2.api, ga);
    await feed2.reload({});
    feed2.live(ev);
    expect(feed2.entries.map((e) => e.id)).toEqual(["e3", "e2"]);
  });

  it("does not put a change older than every loaded entry above the rows of later pages", async () => {
    const m = mockApi({ "": { auditEvents: [entry("e5", "2026-12-06T10:05:00Z")], nextPageToken: "p2" } });
    const feed = new AuditFeed(m.api, ga);
    await feed.reload({});
    expect(feed.live({ id: "old", type: "t", subject: sys, time: "2026-12-06T09:00:00Z" })).toBe(false);
    expect(feed.entries.map((e) => e.id)).toEqual(["e5"]);
  });

  it("keeps changes that arrive while the first page is on its way", async () => {
    const m = mockApi({ "": { auditEvents: [entry("e1", "2026-12-06T10:01:00Z")] } });
    const feed = new AuditFeed(m.api, ga);
    m.hold();
    const done = feed.reload({});
    expect(feed.loading).toBe(true);
    feed.live({ id: "e2", type: "t", subject: sys, time: "2026-12-06T10:02:00Z", actor: "user:alice" });
    feed.live({ id: "e1", type: "t", subject: sys, time: "2026-12-06T10:01:00Z", actor: "user:alice" });
    m.release();
    await done;
    expect(feed.entries.map((e) => e.id)).toEqual(["e2", "e1"]);
  });

  it("a newer query wins over an older one still on its way", async () => {
    const m = mockApi({ "": { auditEvents: [entry("e1", "2026-12-06T10:01:00Z")] } });
    const feed = new AuditFeed(m.api, ga);
    m.hold();
    const first = feed.reload({ actor: "alice" });
    m.release();
    const second = feed.reload({ actor: "bob" });
    await Promise.all([first, second]);
    expect(feed.query.actor).toBe("bob");
    expect(feed.loading).toBe(false);
    expect(new URL(m.urls[1], "http://x").searchParams.get("filter")).toBe('actor = "user:bob"');
  });

  it("reports a refusal (a viewer's 403) and adds nothing from the watch then", async () => {
    const body = { code: 7, message: "viewers may not read the audit trail", details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "PERMISSION_DENIED" }] };
    const m = mockApi({ "": new Response(JSON.stringify(body), { status: 403 }) });
    const feed = new AuditFeed(m.api, ga);
    await feed.reload({});
    expect(feed.error).toBeInstanceOf(ApiError);
    expect((feed.error as ApiError).status).toBe(403);
    expect(feed.live({ id: "e1", type: "t", subject: sys, time: new Date().toISOString() })).toBe(false);
    expect(feed.entries).toEqual([]);
  });
});
