// The one place that turns an API refusal into words for a person.
import { ApiError } from "./api";

const reasons: Record<string, string> = {
  INVALID_ARGUMENT: "Some input is not valid.",
  MALFORMED_REQUEST: "The request could not be read.",
  SYSTEM_TYPE_UNKNOWN: "This system type does not exist.",
  FORMATION_TYPE_UNKNOWN: "This formation type does not exist.",
  SYSTEM_NOT_FOUND: "The system does not exist (any more).",
  FORMATION_NOT_FOUND: "The formation does not exist (any more).",
  SYSTEM_NOT_ASSIGNED: "The system is not in this formation.",
  SYSTEM_NAME_TAKEN: "Another system already has this name. Choose a different name.",
  FORMATION_NAME_TAKEN: "Another formation already has this name. Choose a different name.",
  SYSTEM_ID_TAKEN: "Another system already has this ID.",
  FORMATION_ID_TAKEN: "Another formation already has this ID.",
  SYSTEM_ALREADY_ASSIGNED: "The system is already in this formation.",
  SYSTEM_ALREADY_REGISTERED: "The system is already registered; it needs no new token.",
  SYSTEM_IN_FORMATION: "The system is still in a formation. Exclude it from its formations first, then deregister it.",
  SYSTEM_TYPE_MISMATCH: "The system's side reported a different system type.",
  SYSTEM_NOT_PAIRED: "The system is not registered yet; this type can join a formation only after pairing.",
  SYSTEM_IN_ERROR: "The system is in Error. Get a new token and pair it again first.",
  ENVIRONMENT_NOT_SUPPORTED: "The system type is not available in the formation's environment.",
  SYSTEM_IN_EXCLUSIVE_FORMATION: "The system is already in another formation of this type, and a system may be in only one.",
  TOKEN_QUOTA_EXCEEDED: "Too many unused tokens for this system type. Wait for some to expire or be used.",
  RATE_LIMITED: "Too many requests. Try again in a moment.",
  ETAG_MISMATCH: "Someone else changed this in the meantime. Reload and try again.",
  UNAUTHENTICATED: "You are not signed in, or your sign-in has expired.",
  PERMISSION_DENIED: "Your role does not allow this.",
  UNAVAILABLE: "The service is unavailable right now. Try again shortly.",
  REQUEST_TOO_LARGE: "The request is too large.",
  ROUTE_NOT_FOUND: "This server does not offer that operation.",
  NETWORK: "The server cannot be reached. Check that Landscape is running.",
};

/** Field names as the forms label them. */
const fieldLabels: Record<string, string> = {
  displayName: "Name",
  description: "Description",
  type: "System type",
  formationType: "Formation type",
  environment: "Environment",
  system: "System",
  filter: "Filter",
};

export interface Message {
  /** text is the sentence to show. */
  text: string;
  /** field is the request field the API named, if any (e.g. displayName). */
  field?: string;
  /** detail is the API's own message, shown when the console has no sentence of its own for the reason. */
  detail?: string;
  reason: string;
}

/** Field errors that belong to a named field even without a field violation. */
const reasonFields: Record<string, string> = {
  SYSTEM_NAME_TAKEN: "displayName",
  FORMATION_NAME_TAKEN: "displayName",
};

export function messageFor(err: unknown): Message {
  if (!(err instanceof ApiError)) {
    return { text: "Something went wrong in the console.", detail: String(err), reason: "CLIENT" };
  }
  const field = err.field ?? reasonFields[err.reason];
  let text = reasons[err.reason] ?? (err.status >= 500 ? "The server failed to do this. Try again." : "The request was refused.");
  if (err.violations.length > 0) {
    text = err.violations.map((v) => `${fieldLabels[v.field] ?? v.field}: ${v.description}`).join(" ");
  }
  const known = err.reason in reasons || err.violations.length > 0;
  return { text, field, detail: known ? undefined : err.message, reason: err.reason };
}

/** fieldLabel names an API field as the forms do. */
export function fieldLabel(field: string): string {
  return fieldLabels[field] ?? field;
}
