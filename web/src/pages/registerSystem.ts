// Register System: a wizard. Step 1 the system (type with its
// environments and token validity, name checked as you type,
// description); step 2 the integration token.
import "@ui5/webcomponents-fiori/dist/Wizard.js";
import "@ui5/webcomponents-fiori/dist/WizardStep.js";
import "@ui5/webcomponents-icons/dist/copy.js";
import "@ui5/webcomponents-icons/dist/key.js";
import "@ui5/webcomponents-icons/dist/it-host.js";

import { idOf, type SystemType } from "../api";
import type { Ctx, View } from "../context";
import { h, replace } from "../dom";
import { messageFor } from "../errors";
import { displayNameProblem, durationSeconds, environmentLabels, humanDuration } from "../format";
import { Messages, action, readOnlyNote } from "../ui";
import { tokenPanel, type TokenPanel } from "./tokenPanel";

type Valued = HTMLElement & { value: string };

export function typeFacts(t: SystemType | undefined): string {
  if (!t) return "";
  const envs = (t.environments ?? []).map((e) => environmentLabels[e] ?? e).join(", ");
  const ttl = humanDuration(durationSeconds(t.tokenTtl));
  const join = t.assignableBeforePairing ? "may join a formation before pairing (API access after pairing)" : "joins formations once paired";
  return `Environments: ${envs || "none"} · Token valid ${ttl} · ${join}`;
}

/** setFieldError shows a problem on an input (value state) or clears it. */
export function setFieldError(input: HTMLElement, problem: string | null): void {
  input.querySelector('[slot="valueStateMessage"]')?.remove();
  if (problem) {
    input.setAttribute("value-state", "Negative");
    input.appendChild(h("div", { slot: "valueStateMessage" }, problem));
  } else input.removeAttribute("value-state");
}

export function registerSystemPage(ctx: Ctx): View {
  const messages = new Messages();
  let panel: TokenPanel | undefined;
  const requestId = crypto.randomUUID();

  const typeSelect = h("ui5-select", { id: "system-type", "accessible-name": "System type", required: true }) as Valued;
  const facts = h("div", { class: "muted type-facts", id: "type-facts" });
  let types: SystemType[] = [];
  const selectedType = (): SystemType | undefined => types.find((t) => idOf(t.name) === typeSelect.value);
  typeSelect.addEventListener("change", () => (facts.textContent = typeFacts(selectedType())));

  const nameInput = h("ui5-input", { id: "system-name", required: true, "accessible-name": "Name", placeholder: "e.g. SuccessFactors production", maxlength: 128 }) as Valued;
  let touched = false;
  nameInput.addEventListener("input", () => {
    touched = true;
    setFieldError(nameInput, displayNameProblem(nameInput.value.trim()));
  });
  const descInput = h("ui5-textarea", { id: "system-description", "accessible-name": "Description", rows: 3, maxlength: 1024, placeholder: "Optional" }) as Valued;

  const submit = action(ctx, { design: "Emphasized", onclick: () => void register(), "data-action": "register-submit" }, "Register");
  const cancel = h("ui5-button", { design: "Transparent", onclick: () => ctx.go({ page: "systems" }) }, "Cancel");

  const step1 = h(
    "ui5-wizard-step",
    { "title-text": "System", icon: "it-host", selected: true },
    h(
      "div",
      { class: "form" },
      h("ui5-title", { level: "H2", size: "H5" }, "1. Describe the system"),
      readOnlyNote(ctx, "register systems"),
      messages.el,
      h("ui5-label", { for: "system-type", required: true, "show-colon": true }, "System type"),
      typeSelect,
      facts,
      h("ui5-label", { for: "system-name", required: true, "show-colon": true }, "Name"),
      nameInput,
      h("ui5-label", { for: "system-description", "show-colon": true }, "Description"),
      descInput,
      h("div", { class: "form-actions" }, submit, cancel),
    ),
  );
  const tokenSlot = h("div", { class: "form" });
  const step2 = h("ui5-wizard-step", { "title-text": "Integration token", icon: "key", disabled: true }, tokenSlot);
  const wizard = h("ui5-wizard", { "accessible-name": "Register System", "content-layout": "SingleStep", class: "wizard" }, step1, step2);

  async function register(): Promise<void> {
    const name = nameInput.value.trim();
    const problem = displayNameProblem(name);
    touched = true;
    setFieldError(nameInput, problem);
    if (problem) {
      nameInput.focus();
      return;
    }
    messages.clear();
    submit.setAttribute("disabled", "");
    try {
      const res = await ctx.api.registerSystem(ctx.ga, { type: typeSelect.value, displayName: name, description: descInput.value }, requestId);
      panel = tokenPanel(ctx, res.system, res.integrationToken);
      replace(
        tokenSlot,
        h("ui5-title", { level: "H2", size: "H5" }, `2. Hand the token to ${res.system.displayName}'s administrators`),
        panel.el,
        h(
          "div",
          { class: "form-actions" },
          h("ui5-button", { design: "Emphasized", onclick: () => ctx.go({ page: "systems" }) }, "Done"),
          h("ui5-button", { design: "Transparent", onclick: () => location.reload() }, "Register another"),
        ),
      );
      step1.setAttribute("disabled", "");
      step1.removeAttribute("selected");
      step2.removeAttribute("disabled");
      step2.setAttribute("selected", "");
      ctx.toast(`${res.system.displayName} registered`);
    } catch (err) {
      const m = messageFor(err);
      if (m.field === "displayName") setFieldError(nameInput, m.text);
      messages.show(err);
    } finally {
      if (ctx.canWrite) submit.removeAttribute("disabled");
    }
  }

  void ctx.systemTypes().then(
    (ts) => {
      types = ts;
      for (const t of ts) typeSelect.appendChild(h("ui5-option", { value: idOf(t.name) }, t.displayName));
      facts.textContent = typeFacts(ts[0]);
      if (!touched) nameInput.focus();
    },
    (err) => messages.show(err),
  );

  const el = h(
    "ui5-dynamic-page",
    { class: "page", "hide-pin-button": true },
    h(
      "ui5-dynamic-page-title",
      { slot: "titleArea" },
      h("ui5-title", { slot: "heading", level: "H1", size: "H3" }, "Register System"),
      h("ui5-title", { slot: "snappedHeading", level: "H1", size: "H5" }, "Register System"),
      h("ui5-text", { slot: "subheading", class: "subheading" }, "Add a system to the landscape and get the token its administrators use to pair it."),
      h("ui5-link", { slot: "breadcrumbs", href: "#/systems" }, "Systems"),
    ),
    wizard,
  );
  return { el, title: "Register System", dispose: () => panel?.dispose() };
}
