// The typed client of Landscape's REST API (docs/API.md). Every call the
// console makes goes through here; nothing private is used.

export type SystemState = "PENDING" | "REGISTERED" | "ERROR";
export type FormationState = "READY" | "PENDING" | "ERROR" | "SYNCHRONIZING";
export type Environment = "CLOUD_FOUNDRY" | "KYMA";

export interface System {
  name: string;
  displayName: string;
  description?: string;
  type: string;
  state?: SystemState;
  stateMessage?: string;
  baseUrl?: string;
  externalId?: string;
  formations?: string[];
  createTime?: string;
  updateTime?: string;
  registerTime?: string;
  etag?: string;
}

export interface IntegrationToken {
  name: string;
  token?: string;
  createTime?: string;
  expireTime?: string;
}

export interface SystemType {
  name: string;
  displayName: string;
  environments?: Environment[];
  tokenTtl?: string;
  assignableBeforePairing?: boolean;
}

export interface FormationType {
  name: string;
  displayName: string;
  environment?: Environment | "";
  exclusive?: boolean;
  allowedSystemTypes?: string[];
}

export interface Assignment {
  system: string;
  systemType?: string;
  state?: FormationState;
  stateMessage?: string;
  apiAccessEnabled?: boolean;
  assignTime?: string;
  /** webhook: the system is notified of the formation's changes. */
  webhook?: boolean;
  configuration?: Record<string, unknown>;
  configurationUpdateTime?: string;
}

export interface Formation {
  name: string;
  displayName: string;
  formationType: string;
  environment?: Environment | "";
  state?: FormationState;
  assignments?: Assignment[];
  createTime?: string;
  updateTime?: string;
  etag?: string;
}

export interface Me {
  subject: string;
  globalAccount: string;
  roles?: string[];
  expireTime?: string;
}

export interface AuditEvent {
  id: string;
  time: string;
  type: string;
  subject: string;
  actor?: string;
  causedBy?: string;
  revision?: string;
  resource?: Record<string, unknown>;
}

export interface Page {
  pageSize?: number;
  pageToken?: string;
  filter?: string;
}

export interface FieldViolation {
  field: string;
  description: string;
}

/** ApiError is a refused call: the HTTP status and the API's reason. */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly metadata: Record<string, string>;
  readonly violations: FieldViolation[];

  constructor(status: number, reason: string, message: string, metadata: Record<string, string> = {}, violations: FieldViolation[] = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.reason = reason;
    this.metadata = metadata;
    this.violations = violations;
  }

  /** field is the first request field the API named as wrong, if any. */
  get field(): string | undefined {
    return this.violations[0]?.field;
  }
}

interface StatusBody {
  code?: number;
  message?: string;
  details?: Array<{
    "@type"?: string;
    reason?: string;
    metadata?: Record<string, string>;
    fieldViolations?: FieldViolation[];
  }>;
}

/** errorFromResponse reads the API's JSON status body into an ApiError. */
export function errorFromBody(status: number, body: unknown): ApiError {
  const b = (body ?? {}) as StatusBody;
  let reason = "";
  let metadata: Record<string, string> = {};
  let violations: FieldViolation[] = [];
  for (const d of b.details ?? []) {
    const t = d["@type"] ?? "";
    if (t.endsWith("google.rpc.ErrorInfo")) {
      reason = d.reason ?? "";
      metadata = d.metadata ?? {};
    } else if (t.endsWith("google.rpc.BadRequest")) {
      violations = d.fieldViolations ?? [];
    }
  }
  if (!reason) reason = status === 401 ? "UNAUTHENTICATED" : status === 403 ? "PERMISSION_DENIED" : `HTTP_${status}`;
  return new ApiError(status, reason, b.message ?? `HTTP ${status}`, metadata, violations);
}

/** The last segment of a resource name: globalAccounts/acme/systems/sf → sf. */
export function idOf(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}

function query(p: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(p)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/** Api calls the REST API with the signed-in JWT, when there is one. */
export class Api {
  constructor(
    private readonly token: () => string | null,
    private readonly fetchFn: Fetch = (i, init) => fetch(i, init),
    private readonly base = "",
  ) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { Accept: "application/json", ...extra };
    const t = this.token();
    if (t) h.Authorization = `Bearer ${t}`;
    return h;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method, headers: this.headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
    if (body !== undefined) init.body = JSON.stringify(body);
    return this.read<T>(this.fetchFn(this.base + path, init));
  }

  /** read turns a response into its JSON, or an ApiError. */
  async read<T>(response: Promise<Response>): Promise<T> {
    let res: Response;
    try {
      res = await response;
    } catch {
      throw new ApiError(0, "NETWORK", "The server cannot be reached.");
    }
    const text = await res.text();
    let json: unknown = undefined;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (!res.ok) throw errorFromBody(res.status, json);
    return json as T;
  }

  me(): Promise<Me> {
    return this.call("GET", "/v1/me");
  }
  systemTypes(): Promise<{ systemTypes?: SystemType[] }> {
    return this.call("GET", "/v1/systemTypes");
  }
  formationTypes(): Promise<{ formationTypes?: FormationType[] }> {
    return this.call("GET", "/v1/formationTypes");
  }

  listSystems(ga: string, p: Page = {}): Promise<{ systems?: System[]; nextPageToken?: string }> {
    return this.call("GET", `/v1/globalAccounts/${ga}/systems${query({ ...p })}`);
  }
  getSystem(name: string): Promise<System> {
    return this.call("GET", `/v1/${name}`);
  }
  registerSystem(ga: string, s: Pick<System, "displayName" | "description" | "type">, requestId?: string): Promise<{ system: System; integrationToken: IntegrationToken }> {
    return this.call("POST", `/v1/globalAccounts/${ga}/systems${query({ requestId })}`, s);
  }
  updateSystem(name: string, s: Partial<System>, mask: string[]): Promise<System> {
    return this.call("PATCH", `/v1/${name}${query({ updateMask: mask.join(",") })}`, s);
  }
  deregisterSystem(name: string): Promise<object> {
    return this.call("DELETE", `/v1/${name}`);
  }
  generateToken(name: string): Promise<IntegrationToken> {
    return this.call("POST", `/v1/${name}:generateIntegrationToken`, {});
  }

  listFormations(ga: string, p: Page = {}): Promise<{ formations?: Formation[]; nextPageToken?: string }> {
    return this.call("GET", `/v1/globalAccounts/${ga}/formations${query({ ...p })}`);
  }
  getFormation(name: string): Promise<Formation> {
    return this.call("GET", `/v1/${name}`);
  }
  createFormation(ga: string, f: Pick<Formation, "displayName" | "formationType" | "environment">): Promise<Formation> {
    return this.call("POST", `/v1/globalAccounts/${ga}/formations`, f);
  }
  updateFormation(name: string, f: Partial<Formation>, mask: string[]): Promise<Formation> {
    return this.call("PATCH", `/v1/${name}${query({ updateMask: mask.join(",") })}`, f);
  }
  deleteFormation(name: string): Promise<object> {
    return this.call("DELETE", `/v1/${name}`);
  }
  assignSystem(formation: string, system: string): Promise<Formation> {
    return this.call("POST", `/v1/${formation}:assignSystem`, { system });
  }
  resynchronizeFormation(name: string): Promise<Formation> {
    return this.call("POST", `/v1/${name}:resynchronize`, {});
  }
  unassignSystem(formation: string, system: string): Promise<Formation> {
    return this.call("POST", `/v1/${formation}:unassignSystem`, { system });
  }

  auditEvents(ga: string, p: Page = {}): Promise<{ auditEvents?: AuditEvent[]; nextPageToken?: string }> {
    return this.call("GET", `/v1/globalAccounts/${ga}/auditEvents${query({ ...p })}`);
  }
}
