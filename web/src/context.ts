// What every page gets from the shell: the API, the caller, live events.
import type { Api, FormationType, Me, SystemType } from "./api";
import type { Live } from "./live";
import type { Route } from "./router";

export const writerRoles = ["global-account-admin", "system-landscape-admin"];
export const auditRoles = writerRoles;

export interface Ctx {
  api: Api;
  me: Me;
  ga: string;
  /** canWrite: the caller holds a role that may change things. */
  canWrite: boolean;
  live: Live;
  toast(text: string): void;
  go(route: Route): void;
  systemTypes(): Promise<SystemType[]>;
  formationTypes(): Promise<FormationType[]>;
}

export interface View {
  el: HTMLElement;
  /** title is the page's name for the document title. */
  title: string;
  dispose?(): void;
}

/** canWrite reports whether the roles may change things (viewers may not). */
export function rolesCanWrite(roles: string[] | undefined): boolean {
  return (roles ?? []).some((r) => writerRoles.includes(r));
}

/** rolesCanReadAudit reports whether the roles may read the audit trail (viewers may not). */
export function rolesCanReadAudit(roles: string[] | undefined): boolean {
  return (roles ?? []).some((r) => auditRoles.includes(r));
}

/** The tooltip of an action a viewer sees disabled. */
export const needsWriterRole = "Needs the role global-account-admin or system-landscape-admin; you have read access only (system-landscape-viewer).";
