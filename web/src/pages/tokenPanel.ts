// The token step: the integration token once, with Copy, its expiry
// counting down, the exact call the system's side makes, and the system's
// status following live events while you wait for the pairing.
import { idOf, type IntegrationToken, type System } from "../api";
import type { Ctx } from "../context";
import { h, replace } from "../dom";
import { countdown, dateTime } from "../format";
import { systemOfSubject } from "../live";
import { stateTag } from "../ui";

export interface TokenPanel {
  el: HTMLElement;
  dispose(): void;
}

/** pairCommand is the call the system's side makes to pair (docs/API.md). */
export function pairCommand(origin: string, token: string, systemType: string): string {
  const body = JSON.stringify({ integrationToken: token, systemType, baseUrl: "https://<the system's URL>", externalId: "<the system's ID>" });
  return `curl -sS -X POST '${origin}/v1/systems:pair' \\\n  -H 'Content-Type: application/json' \\\n  -d '${body}'`;
}

export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

export function tokenPanel(ctx: Ctx, system: System, token: IntegrationToken): TokenPanel {
  const secret = token.token ?? "";
  const expire = token.expireTime ? new Date(token.expireTime).getTime() : 0;
  const tokenInput = h("ui5-input", { id: "integration-token", readonly: true, value: secret, "accessible-name": "Integration token", class: "token-input" });
  const copy = async (text: string, what: string): Promise<void> => {
    if (await copyText(text)) ctx.toast(`${what} copied`);
    else ctx.toast(`Select the ${what.toLowerCase()} and copy it by hand`);
  };
  const left = h("span", { id: "token-countdown", "aria-live": "off" }, "");
  const expiry = h("span", { class: "muted" }, expire ? ` (at ${dateTime(token.expireTime)})` : "");
  const tick = (): void => {
    const ms = expire - Date.now();
    left.textContent = countdown(ms);
    left.className = ms <= 0 ? "expired" : ms < 60_000 ? "expiring" : "";
  };
  tick();
  const timer = setInterval(tick, 1000);

  const command = pairCommand(location.origin, secret, system.type);
  const status = h("span", { id: "token-system-status" }, stateTag(system.state));
  const statusNote = h("span", { class: "muted" }, system.state === "PENDING" ? " waiting for the system's side to pair…" : "");
  const unsubscribe = ctx.live.subscribe((e) => {
    if (systemOfSubject(e.subject) !== system.name) return;
    void ctx.api.getSystem(system.name).then((s) => {
      replace(status, stateTag(s.state));
      statusNote.textContent = s.state === "PENDING" ? " waiting for the system's side to pair…" : s.state === "REGISTERED" ? " paired." : ` ${s.stateMessage ?? ""}`;
    }, () => {});
  });

  const el = h(
    "section",
    { class: "token-panel", "aria-label": "Integration token" },
    h(
      "ui5-message-strip",
      { design: "Critical", "hide-close-button": true },
      "Copy the token now: it is shown only once. Landscape keeps only a hash of it and cannot show it again; if it is lost, get a new token.",
    ),
    h("ui5-label", { for: "integration-token", "show-colon": true }, "Integration token"),
    h("div", { class: "token-row" }, tokenInput, h("ui5-button", { icon: "copy", design: "Emphasized", onclick: () => void copy(secret, "Token") }, "Copy token")),
    h("div", { class: "token-facts" }, h("span", null, "Expires in ", left, expiry), h("span", null, "Single use: the first pairing uses it up.")),
    h("div", null, h("ui5-label", { "show-colon": true }, `Status of ${system.displayName}`), " ", status, statusNote),
    h("ui5-label", { "show-colon": true, for: "pair-command" }, "The system's side pairs with this call"),
    h("pre", { class: "command", id: "pair-command", tabindex: 0, "aria-label": "Pairing call" }, command),
    h(
      "div",
      { class: "token-actions" },
      h("ui5-button", { icon: "copy", onclick: () => void copy(command, "Pairing call") }, "Copy call"),
      h("ui5-link", { href: `#/systems/${encodeURIComponent(idOf(system.name))}` }, `Open ${system.displayName}`),
    ),
  );
  return {
    el,
    dispose() {
      clearInterval(timer);
      unsubscribe();
    },
  };
}
