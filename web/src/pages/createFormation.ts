// Create Formation: a wizard. General information → include systems
// (only the types the formation type accepts; a system that cannot join
// says why) → review and create.
import "@ui5/webcomponents/dist/CheckBox.js";
import "@ui5/webcomponents-fiori/dist/Wizard.js";
import "@ui5/webcomponents-fiori/dist/WizardStep.js";
import "@ui5/webcomponents-icons/dist/accept.js";
import "@ui5/webcomponents-icons/dist/group.js";
import "@ui5/webcomponents-icons/dist/it-host.js";

import { idOf, type FormationType, type System, type SystemType } from "../api";
import type { Ctx, View } from "../context";
import { h, replace } from "../dom";
import { messageFor } from "../errors";
import { accepts, whyNot, type Target } from "../eligibility";
import { displayNameProblem, environmentLabels } from "../format";
import { Messages, action, errorStrip, readOnlyNote, stateTag } from "../ui";
import { setFieldError } from "./registerSystem";

type Valued = HTMLElement & { value: string };
type Checkable = HTMLElement & { checked: boolean };

/** loadCandidates reads the account's systems and its formations' types (for exclusive formation types). */
export async function loadCandidates(ctx: Ctx): Promise<{ systems: System[]; formationTypeOf: Map<string, string> }> {
  const systems: System[] = [];
  let token = "";
  do {
    const p = await ctx.api.listSystems(ctx.ga, { pageSize: 1000, pageToken: token });
    systems.push(...(p.systems ?? []));
    token = p.nextPageToken ?? "";
  } while (token && systems.length < 5000);
  const formationTypeOf = new Map<string, string>();
  token = "";
  do {
    const p = await ctx.api.listFormations(ctx.ga, { pageSize: 1000, pageToken: token });
    for (const f of p.formations ?? []) formationTypeOf.set(f.name, f.formationType);
    token = p.nextPageToken ?? "";
  } while (token && formationTypeOf.size < 5000);
  return { systems, formationTypeOf };
}

/** candidateList shows the systems a formation type accepts, each with a check box or the reason it cannot join. */
export function candidateList(target: Target, systems: System[], types: SystemType[], formationTypeOf: Map<string, string>, onChange: () => void): { el: HTMLElement; selected(): System[] } {
  const typeName = (t: string): string => types.find((x) => idOf(x.name) === t)?.displayName ?? t;
  const accepted = systems.filter((s) => accepts(target, s) && !(target.formation && (s.formations ?? []).includes(target.formation)));
  const boxes = new Map<string, Checkable>();
  const rows = accepted.map((s) => {
    const reason = whyNot(target, s, types, formationTypeOf);
    const box = h("ui5-checkbox", { "accessible-name": `Include ${s.displayName}`, disabled: reason !== null, "data-system": idOf(s.name) }) as Checkable;
    box.addEventListener("change", onChange);
    if (!reason) boxes.set(s.name, box);
    return h(
      "ui5-table-row",
      { "row-key": s.name },
      h("ui5-table-cell", null, box),
      h("ui5-table-cell", null, s.displayName),
      h("ui5-table-cell", null, typeName(s.type)),
      h("ui5-table-cell", null, stateTag(s.state)),
      h("ui5-table-cell", null, reason ? h("span", { class: "cannot-join", "data-reason-for": idOf(s.name) }, reason) : h("span", { class: "muted" }, "Can join")),
    );
  });
  const hidden = systems.length - accepted.length;
  const el = h(
    "div",
    null,
    h(
      "ui5-table",
      { "accessible-name": "Systems to include", "overflow-mode": "Popin", "no-data-text": "No system of a type this formation accepts." },
      h(
        "ui5-table-header-row",
        { slot: "headerRow" },
        h("ui5-table-header-cell", { width: "6rem" }, "Include"),
        h("ui5-table-header-cell", null, "System"),
        h("ui5-table-header-cell", null, "Type"),
        h("ui5-table-header-cell", null, "Status"),
        h("ui5-table-header-cell", null, "Can it join?"),
      ),
      rows,
    ),
    hidden > 0 ? h("p", { class: "muted" }, `${hidden} system${hidden === 1 ? "" : "s"} of types this formation type does not accept ${hidden === 1 ? "is" : "are"} not listed.`) : null,
  );
  return { el, selected: () => accepted.filter((s) => boxes.get(s.name)?.checked) };
}

export function createFormationPage(ctx: Ctx): View {
  const messages = new Messages();
  let ftypes: FormationType[] = [];
  let stypes: SystemType[] = [];
  let candidates: { systems: System[]; formationTypeOf: Map<string, string> } | undefined;
  let list: ReturnType<typeof candidateList> | undefined;

  const nameInput = h("ui5-input", { id: "formation-name", required: true, "accessible-name": "Name", placeholder: "e.g. Extensions" }) as Valued;
  nameInput.addEventListener("input", () => setFieldError(nameInput, displayNameProblem(nameInput.value.trim())));
  const typeSelect = h("ui5-select", { id: "formation-type", "accessible-name": "Formation type" }) as Valued;
  const envSelect = h("ui5-select", { id: "formation-environment", "accessible-name": "Environment" }) as Valued;
  const envNote = h("div", { class: "muted" });
  const ftype = (): FormationType | undefined => ftypes.find((t) => idOf(t.name) === typeSelect.value);
  const environment = (): string => {
    const t = ftype();
    return t?.environment ? t.environment : envSelect.value;
  };
  function fillEnv(): void {
    const t = ftype();
    replace(envSelect);
    if (t?.environment) {
      envSelect.appendChild(h("ui5-option", { value: t.environment, selected: true }, environmentLabels[t.environment] ?? t.environment));
      envSelect.setAttribute("disabled", "");
      envNote.textContent = `This formation type always runs in ${environmentLabels[t.environment] ?? t.environment}.${t.exclusive ? " A system may be in only one formation of this type." : ""}`;
    } else {
      envSelect.removeAttribute("disabled");
      envSelect.appendChild(h("ui5-option", { value: "" }, "Any (no environment)"));
      for (const e of ["CLOUD_FOUNDRY", "KYMA"]) envSelect.appendChild(h("ui5-option", { value: e }, environmentLabels[e]));
      envNote.textContent = t?.exclusive ? "A system may be in only one formation of this type." : "";
    }
  }
  typeSelect.addEventListener("change", fillEnv);

  const step1 = h(
    "ui5-wizard-step",
    { "title-text": "General information", icon: "group", selected: true },
    h(
      "div",
      { class: "form" },
      h("ui5-title", { level: "H2", size: "H5" }, "1. General information"),
      readOnlyNote(ctx, "create formations"),
      messages.el,
      h("ui5-label", { for: "formation-name", required: true, "show-colon": true }, "Name"),
      nameInput,
      h("ui5-label", { for: "formation-type", required: true, "show-colon": true }, "Formation type"),
      typeSelect,
      h("ui5-label", { for: "formation-environment", "show-colon": true }, "Environment"),
      envSelect,
      envNote,
      h("div", { class: "form-actions" }, h("ui5-button", { design: "Emphasized", onclick: () => void toSystems() }, "Next: include systems"), h("ui5-button", { design: "Transparent", onclick: () => ctx.go({ page: "formations" }) }, "Cancel")),
    ),
  );
  const systemsSlot = h("div");
  const step2 = h(
    "ui5-wizard-step",
    { "title-text": "Include systems", icon: "it-host", disabled: true },
    h(
      "div",
      { class: "form wide" },
      h("ui5-title", { level: "H2", size: "H5" }, "2. Include systems (optional)"),
      systemsSlot,
      h("div", { class: "form-actions" }, h("ui5-button", { design: "Emphasized", onclick: () => toReview() }, "Next: review"), h("ui5-button", { design: "Transparent", onclick: () => select(step1) }, "Back")),
    ),
  );
  const reviewSlot = h("div", { class: "form" });
  const step3 = h("ui5-wizard-step", { "title-text": "Review", icon: "accept", disabled: true }, reviewSlot);
  const wizard = h("ui5-wizard", { "accessible-name": "Create Formation", "content-layout": "SingleStep", class: "wizard" }, step1, step2, step3);
  wizard.addEventListener("step-change", (e: Event) => select((e as CustomEvent<{ step: HTMLElement }>).detail.step));

  function select(step: HTMLElement): void {
    for (const s of [step1, step2, step3]) s.toggleAttribute("selected", s === step);
  }

  function target(): Target {
    const t = ftype();
    return { formationType: typeSelect.value, environment: environment() || undefined, exclusive: t?.exclusive, allowedSystemTypes: t?.allowedSystemTypes };
  }

  async function toSystems(): Promise<void> {
    const problem = displayNameProblem(nameInput.value.trim());
    setFieldError(nameInput, problem);
    if (problem) return;
    messages.clear();
    try {
      candidates ??= await loadCandidates(ctx);
    } catch (err) {
      messages.show(err);
      return;
    }
    list = candidateList(target(), candidates.systems, stypes, candidates.formationTypeOf, () => {});
    replace(systemsSlot, list.el);
    step2.removeAttribute("disabled");
    select(step2);
  }

  function toReview(): void {
    const chosen = list?.selected() ?? [];
    const t = ftype();
    const create = action(ctx, { design: "Emphasized", onclick: () => void submit(chosen, create), "data-action": "create-submit" }, "Create");
    replace(
      reviewSlot,
      h("ui5-title", { level: "H2", size: "H5" }, "3. Review"),
      h("div", { class: "review" }, h("ui5-label", { "show-colon": true }, "Name"), h("span", null, nameInput.value.trim())),
      h("div", { class: "review" }, h("ui5-label", { "show-colon": true }, "Formation type"), h("span", null, t?.displayName ?? typeSelect.value)),
      h("div", { class: "review" }, h("ui5-label", { "show-colon": true }, "Environment"), h("span", null, environment() ? environmentLabels[environment()] : "Any")),
      h("div", { class: "review" }, h("ui5-label", { "show-colon": true }, "Systems"), h("span", null, chosen.length ? chosen.map((s) => s.displayName).join(", ") : "none yet (include them later)")),
      h("div", { class: "messages", id: "create-messages" }),
      h("div", { class: "form-actions" }, create, h("ui5-button", { design: "Transparent", onclick: () => select(step2) }, "Back")),
    );
    step3.removeAttribute("disabled");
    select(step3);
  }

  async function submit(chosen: System[], btn: HTMLElement): Promise<void> {
    const strip = reviewSlot.querySelector("#create-messages") as HTMLElement;
    replace(strip);
    btn.setAttribute("disabled", "");
    let formation;
    try {
      const env = environment();
      formation = await ctx.api.createFormation(ctx.ga, { displayName: nameInput.value.trim(), formationType: typeSelect.value, ...(env ? { environment: env as "KYMA" } : {}) });
    } catch (err) {
      btn.removeAttribute("disabled");
      replace(strip, errorStrip(err));
      if (messageFor(err).field === "displayName") {
        setFieldError(nameInput, messageFor(err).text);
      }
      return;
    }
    const failures: HTMLElement[] = [];
    for (const s of chosen) {
      try {
        await ctx.api.assignSystem(formation.name, s.name);
      } catch (err) {
        failures.push(errorStrip(err, [` (${s.displayName})`]));
      }
    }
    ctx.toast(`Formation ${formation.displayName} created${chosen.length ? ` with ${chosen.length - failures.length} system${chosen.length - failures.length === 1 ? "" : "s"}` : ""}`);
    if (failures.length > 0) {
      // Created, but not every system joined: say which and why, and stay.
      replace(strip, ...failures, h("ui5-link", { href: `#/formations/${encodeURIComponent(idOf(formation.name))}` }, `Open ${formation.displayName}`));
      return;
    }
    ctx.go({ page: "formation", id: idOf(formation.name) });
  }

  void Promise.all([ctx.formationTypes(), ctx.systemTypes()]).then(
    ([ft, st]) => {
      ftypes = ft;
      stypes = st;
      for (const t of ft) typeSelect.appendChild(h("ui5-option", { value: idOf(t.name) }, t.displayName));
      fillEnv();
    },
    (err) => messages.show(err),
  );

  const el = h(
    "ui5-dynamic-page",
    { class: "page", "hide-pin-button": true },
    h(
      "ui5-dynamic-page-title",
      { slot: "titleArea" },
      h("ui5-link", { slot: "breadcrumbs", href: "#/formations" }, "Formations"),
      h("ui5-title", { slot: "heading", level: "H1", size: "H3" }, "Create Formation"),
      h("ui5-title", { slot: "snappedHeading", level: "H1", size: "H5" }, "Create Formation"),
      h("ui5-text", { slot: "subheading", class: "subheading" }, "Group systems so that they can work together."),
    ),
    wizard,
  );
  return { el, title: "Create Formation" };
}
