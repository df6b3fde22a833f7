import { describe, expect, it, vi } from "vitest";
import { Api, ApiError, errorFromBody, idOf } from "../src/api";
import { messageFor } from "../src/errors";
import { configurationJSON, configurationSummary, countdown, displayNameProblem, durationSeconds, eventLabel, humanDuration, listFilter, stateDesign } from "../src/format";
import { SSEParser, formationOfSubject, systemOfSubject } from "../src/live";
import { href, parseRoute } from "../src/router";
import { takeFragmentToken, type TokenStore } from "../src/session";

function memStore(): TokenStore & { value: string | null } {
  const s = {
    value: null as string | null,
    get: () => s.value,
    set: (t: string) => {
      s.value = t;
    },
    clear: () => {
      s.value = null;
    },
  };
  return s;
}

describe("api", () => {
  it("reads reason, metadata and field violations from a status body", () => {
    const e = errorFromBody(400, {
      code: 3,
      message: "display name is taken",
      details: [
        { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "SYSTEM_NAME_TAKEN", domain: "landscape", metadata: { system: "globalAccounts/dev/systems/a" } },
        { "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "displayName", description: "taken" }] },
      ],
    });
    expect(e.reason).toBe("SYSTEM_NAME_TAKEN");
    expect(e.field).toBe("displayName");
    expect(e.metadata.system).toBe("globalAccounts/dev/systems/a");
  });

  it("names a bare 401 or 403 without a body", () => {
    expect(errorFromBody(401, undefined).reason).toBe("UNAUTHENTICATED");
    expect(errorFromBody(403, "").reason).toBe("PERMISSION_DENIED");
  });

  it("sends the bearer and JSON, and builds paths and queries", async () => {
    const calls: Array<{ url: string; init?: RequestInit }> = [];
    const api = new Api(
      () => "jwt-1",
      async (url, init) => {
        calls.push({ url, init });
        return new Response(JSON.stringify({ systems: [], nextPageToken: "" }), { status: 200 });
      },
    );
    await api.listSystems("acme", { pageSize: 50, filter: 'type = "sap-successfactors"' });
    expect(calls[0].url).toBe("/v1/globalAccounts/acme/systems?pageSize=50&filter=type+%3D+%22sap-successfactors%22");
    expect((calls[0].init?.headers as Record<string, string>).Authorization).toBe("Bearer jwt-1");
    await api.updateSystem("globalAccounts/acme/systems/a", { displayName: "B", etag: "e1" }, ["displayName"]);
    expect(calls[1].url).toBe("/v1/globalAccounts/acme/systems/a?updateMask=displayName");
    expect(calls[1].init?.method).toBe("PATCH");
    expect(JSON.parse(String(calls[1].init?.body))).toEqual({ displayName: "B", etag: "e1" });
  });

  it("turns a refusal into an ApiError and a network failure into NETWORK", async () => {
    const api = new Api(() => null, async () => new Response(JSON.stringify({ code: 5, message: "no", details: [{ "@type": "x/google.rpc.ErrorInfo", reason: "SYSTEM_NOT_FOUND" }] }), { status: 404 }));
    await expect(api.getSystem("globalAccounts/a/systems/b")).rejects.toMatchObject({ status: 404, reason: "SYSTEM_NOT_FOUND" });
    const down = new Api(() => null, async () => {
      throw new TypeError("fetch failed");
    });
    await expect(down.me()).rejects.toMatchObject({ reason: "NETWORK" });
  });

  it("idOf takes the last segment", () => {
    expect(idOf("globalAccounts/acme/systems/sf-prod")).toBe("sf-prod");
  });
});

describe("errors", () => {
  it("says the reason in words and names the field", () => {
    const m = messageFor(new ApiError(409, "SYSTEM_NAME_TAKEN", "taken"));
    expect(m.text).toMatch(/already has this name/);
    expect(m.field).toBe("displayName");
    const v = messageFor(new ApiError(400, "INVALID_ARGUMENT", "bad", {}, [{ field: "displayName", description: "must start with a letter or digit" }]));
    expect(v.text).toBe("Name: must start with a letter or digit");
    expect(v.field).toBe("displayName");
  });
  it("has a sentence for an unknown reason and for a console bug", () => {
    expect(messageFor(new ApiError(500, "WHATEVER", "x")).text).toMatch(/server failed/);
    expect(messageFor(new Error("boom")).reason).toBe("CLIENT");
  });
});

describe("format", () => {
  it("summarises a member's configuration and pretty-prints it", () => {
    expect(configurationSummary(undefined)).toBe("—");
    expect(configurationSummary({})).toBe("—");
    expect(configurationSummary({ url: "https://s4.example.com/api" })).toBe("1 key");
    expect(configurationSummary({ a: 1, b: { c: 2 } })).toBe("2 keys");
    expect(configurationJSON({ url: "https://s4.example.com/api", nested: { on: true } })).toBe('{\n  "url": "https://s4.example.com/api",\n  "nested": {\n    "on": true\n  }\n}');
    expect(configurationJSON(undefined)).toBe("{}");
  });

  it("colours states as Fiori does", () => {
    expect(stateDesign("REGISTERED")).toBe("Positive");
    expect(stateDesign("READY")).toBe("Positive");
    expect(stateDesign("ERROR")).toBe("Negative");
    expect(stateDesign("PENDING")).toBe("Information");
  });
  it("counts down", () => {
    expect(countdown(10 * 60 * 1000)).toBe("10:00");
    expect(countdown(9 * 60 * 1000 + 58_400)).toBe("9:58");
    expect(countdown(7 * 86400 * 1000 - 1000)).toBe("6 d 23 h 59 min");
    expect(countdown(0)).toBe("expired");
  });
  it("reads durations", () => {
    expect(durationSeconds("604800s")).toBe(604800);
    expect(humanDuration(604800)).toBe("7 days");
    expect(humanDuration(600)).toBe("10 minutes");
    expect(humanDuration(3600)).toBe("1 hour");
  });
  it("builds list filters", () => {
    expect(listFilter({ type: "sap-successfactors", state: "PENDING" })).toBe('type = "sap-successfactors" AND state = PENDING');
    expect(listFilter({ type: "", state: undefined })).toBe("");
    expect(listFilter({ subject: 'a"b' }, [])).toBe('subject = "a\\"b"');
  });
  it("checks display names as the API does", () => {
    expect(displayNameProblem("SF prod")).toBeNull();
    expect(displayNameProblem("")).toMatch(/Enter/);
    expect(displayNameProblem(" x")).toMatch(/letter or digit/);
    expect(displayNameProblem("a".repeat(129))).toMatch(/128/);
  });
  it("labels event types", () => {
    expect(eventLabel("landscape.registry.v1.SystemRegistered")).toBe("System registered");
  });
});

describe("live", () => {
  it("parses server-sent events across chunks, with comments and CRLF", () => {
    const p = new SSEParser();
    expect(p.push(": keep-alive\n\nid: c1\nevent: t\nda")).toEqual([]);
    expect(p.push('ta: {"a":1}\n\nid: c2\r\ndata: x\r\ndata: y\r\n\r\n')).toEqual([
      { id: "c1", event: "t", data: '{"a":1}' },
      { id: "c2", event: undefined, data: "x\ny" },
    ]);
  });
  it("finds the system and formation an event is about", () => {
    expect(systemOfSubject("globalAccounts/dev/systems/sf")).toBe("globalAccounts/dev/systems/sf");
    expect(systemOfSubject("globalAccounts/dev/systems/sf/integrationTokens/k1")).toBe("globalAccounts/dev/systems/sf");
    expect(systemOfSubject("globalAccounts/dev/formations/f1/assignments/sf")).toBe("globalAccounts/dev/systems/sf");
    expect(systemOfSubject("globalAccounts/dev/formations/f1")).toBeUndefined();
    expect(formationOfSubject("globalAccounts/dev/formations/f1/assignments/sf")).toBe("globalAccounts/dev/formations/f1");
  });
});

describe("router and session", () => {
  it("parses and builds routes", () => {
    expect(parseRoute("#/systems/sf-prod")).toEqual({ page: "system", id: "sf-prod" });
    expect(parseRoute("#/systems/new")).toEqual({ page: "register-system" });
    expect(parseRoute("")).toEqual({ page: "systems" });
    expect(parseRoute("#/activity?subject=globalAccounts%2Fdev%2Fsystems%2Fa")).toEqual({ page: "activity", subject: "globalAccounts/dev/systems/a" });
    expect(href({ page: "formation", id: "f1" })).toBe("#/formations/f1");
  });
  it("takes the token from the sign-in fragment", () => {
    const s = memStore();
    expect(takeFragmentToken("#token=abc.def.ghi", s)).toBe("#/systems");
    expect(s.value).toBe("abc.def.ghi");
    expect(takeFragmentToken("#/systems", s)).toBeNull();
  });
});

import { accepts, whyNot } from "../src/eligibility";

describe("eligibility", () => {
  const types = [
    { name: "systemTypes/sap-successfactors", displayName: "SAP SuccessFactors", environments: ["CLOUD_FOUNDRY", "KYMA"] as const, assignableBeforePairing: false },
    { name: "systemTypes/sap-commerce-cloud", displayName: "SAP Commerce Cloud", environments: ["KYMA"] as const, assignableBeforePairing: true },
  ].map((t) => ({ ...t, environments: [...t.environments] }));
  const sys = (over: object) => ({ name: "globalAccounts/dev/systems/a", displayName: "A", type: "sap-successfactors", state: "REGISTERED" as const, formations: [] as string[], ...over });
  const kyma = { formationType: "side-by-side-extensibility-with-kyma", environment: "KYMA", allowedSystemTypes: ["sap-successfactors", "sap-commerce-cloud"] };

  it("lets a registered system join", () => {
    expect(whyNot(kyma, sys({}), types, new Map())).toBeNull();
  });
  it("says why not, in the API's order", () => {
    expect(whyNot(kyma, sys({ state: "ERROR" }), types, new Map())).toMatch(/In Error/);
    expect(whyNot({ ...kyma, environment: "CLOUD_FOUNDRY" }, sys({ type: "sap-commerce-cloud", state: "PENDING" }), types, new Map())).toMatch(/not available in Cloud Foundry/);
    expect(whyNot(kyma, sys({ state: "PENDING" }), types, new Map())).toMatch(/Not paired yet/);
    expect(whyNot(kyma, sys({ type: "sap-commerce-cloud", state: "PENDING" }), types, new Map())).toBeNull();
    const ex = { formationType: "eventing", exclusive: true };
    const f = "globalAccounts/dev/formations/e1";
    expect(whyNot(ex, sys({ formations: [f] }), types, new Map([[f, "eventing"]]))).toMatch(/only one formation/);
    expect(whyNot({ ...ex, formation: f }, sys({ formations: [f] }), types, new Map([[f, "eventing"]]))).toMatch(/Already in this formation/);
  });
  it("pre-filters by the formation type's system types", () => {
    expect(accepts({ ...kyma, allowedSystemTypes: ["sap-commerce-cloud"] }, sys({}))).toBe(false);
    expect(accepts(kyma, sys({}))).toBe(true);
  });
});

import { Live, type LiveEvent, type LiveState } from "../src/live";

describe("Live", () => {
  function sseResponse(chunks: string[]): Response {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const ch of chunks) c.enqueue(new TextEncoder().encode(ch));
        c.close(); // the server drops the connection
      },
    });
    return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
  }

  it("sends the bearer, dispatches events and resumes after a drop with Last-Event-ID", async () => {
    const calls: Array<Record<string, string>> = [];
    const fetchFn = (async (_url: string, init?: RequestInit) => {
      calls.push(init?.headers as Record<string, string>);
      if (calls.length === 1) return sseResponse([": keep-alive\n\n", 'id: c1\nevent: t\ndata: {"id":"e1","type":"t","subject":"globalAccounts/dev/systems/a"}\n\n']);
      if (calls.length === 2) return sseResponse(['id: c2\ndata: {"id":"e2","type":"t","subject":"globalAccounts/dev/systems/b"}\n\n']);
      return new Promise<Response>(() => {}); // stays open
    }) as typeof fetch;
    const live = new Live({ url: "/v1/globalAccounts/dev/events:watch", headers: () => ({ Authorization: "Bearer j" }), fetchFn, backoff: [1] });
    const seen: LiveEvent[] = [];
    const states: LiveState[] = [];
    live.subscribe((e) => seen.push(e));
    live.onState((s) => states.push(s));
    live.start();
    await vi.waitFor(() => expect(seen.map((e) => e.id)).toEqual(["e1", "e2"]));
    await vi.waitFor(() => expect(calls.length).toBe(3));
    expect(calls[0].Authorization).toBe("Bearer j");
    expect(calls[0].Accept).toBe("text/event-stream");
    expect(calls[0]["Last-Event-ID"]).toBeUndefined();
    expect(calls[1]["Last-Event-ID"]).toBe("c1");
    expect(calls[2]["Last-Event-ID"]).toBe("c2");
    expect(states).toContain("live");
    expect(states).toContain("off");
    live.stop();
    expect(live.state).toBe("off");
  });

  it("retries at once when asked (back online) instead of waiting for the next try", async () => {
    let n = 0;
    const fetchFn = (async () => {
      n++;
      if (n === 1) return new Response("{}", { status: 503 });
      return new Promise<Response>(() => {}); // connected, stays open
    }) as unknown as typeof fetch;
    const live = new Live({ url: "/x", headers: () => ({}), fetchFn, backoff: [60_000] });
    live.start();
    await vi.waitFor(() => expect(live.state).toBe("off"));
    expect(n).toBe(1);
    live.retryNow();
    await vi.waitFor(() => expect(n).toBe(2));
    live.retryNow(); // not off: nothing
    expect(n).toBe(2);
    live.stop();
  });

  it("says live updates are off when the server refuses, and retries", async () => {
    let n = 0;
    const fetchFn = (async () => {
      n++;
      return new Response("{}", { status: 404 });
    }) as unknown as typeof fetch;
    const live = new Live({ url: "/x", headers: () => ({}), fetchFn, backoff: [1] });
    live.start();
    await vi.waitFor(() => expect(n).toBeGreaterThanOrEqual(2));
    expect(live.state === "off" || live.state === "connecting").toBe(true);
    live.stop();
  });
});
