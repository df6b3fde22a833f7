// Formation details: state, each assignment with its state (and API access
// for types that join before pairing), include and exclude systems,
// rename, delete; following live events.
import "@ui5/webcomponents/dist/CheckBox.js";
import "@ui5/webcomponents/dist/Dialog.js";
import "@ui5/webcomponents-fiori/dist/illustrations/PageNotFound.js";
import "@ui5/webcomponents-icons/dist/delete.js";
import "@ui5/webcomponents-icons/dist/edit.js";
import "@ui5/webcomponents-icons/dist/synchronize.js";

import { ApiError, idOf, type Assignment, type Formation, type FormationType, type System, type SystemType } from "../api";
import type { Ctx, View } from "../context";
import { h, replace } from "../dom";
import { messageFor } from "../errors";
import { configurationJSON, configurationSummary, dateTime, displayNameProblem, environmentLabels } from "../format";
import { formationOfSubject, systemOfSubject } from "../live";
import { href } from "../router";
import { Messages, action, dialog, errorStrip, field, keyedDebounce, link, notFound, stateTag, strip } from "../ui";
import { objectPage } from "./objectPage";
import { candidateList, loadCandidates } from "./createFormation";
import { setFieldError } from "./registerSystem";

type Valued = HTMLElement & { value: string };

export function formationDetailsPage(ctx: Ctx, id: string): View {
  const name = `globalAccounts/${ctx.ga}/formations/${id}`;
  const messages = new Messages();
  let formation: Formation | undefined;
  let ftypes: FormationType[] = [];
  let stypes: SystemType[] = [];
  const systemsByName = new Map<string, System>();

  const assignmentsSlot = h("div");
  const { heading, subheading, actions, header, stateNote, tabs, view } = objectPage(ctx, {
    id,
    titleId: "formation-title",
    list: { href: "#/formations", text: "Formations" },
    stateNoteId: "formation-state-note",
    messages: messages.el,
    sections: "Formation sections",
    first: { text: "Systems", el: assignmentsSlot },
    activity: "Activity of this formation",
  });

  const ftype = (f: Formation): FormationType | undefined => ftypes.find((t) => idOf(t.name) === f.formationType);
  const stype = (t: string | undefined): SystemType | undefined => stypes.find((x) => idOf(x.name) === t);

  async function render(f: Formation): Promise<void> {
    formation = f;
    heading.textContent = f.displayName;
    replace(subheading, stateTag(f.state), h("span", { class: "muted" }, ` ${ftype(f)?.displayName ?? f.formationType}`));
    replace(
      actions,
      action(ctx, { design: "Emphasized", icon: "add", onclick: () => void include(), "data-action": "include" }, "Include systems"),
      resyncButton(f),
      action(ctx, { icon: "edit", onclick: () => rename(), "data-action": "rename" }, "Rename"),
      action(ctx, { icon: "delete", design: "Transparent", onclick: () => remove(), "data-action": "delete" }, "Delete"),
    );
    const assignments = f.assignments ?? [];
    const inError = assignments.filter((a) => a.state === "ERROR").length;
    const syncing = assignments.filter((a) => a.state === "SYNCHRONIZING").length;
    if (f.state === "ERROR") {
      const who = inError === 1 ? "One system" : `${inError} systems`;
      replace(stateNote, strip("Negative", `${who} could not take part: the reason is beside ${inError === 1 ? "it" : "each"} below. Once the system's side is fixed, Resynchronize notifies it again.`));
    } else if (f.state === "SYNCHRONIZING") {
      const who = syncing === 1 ? "one system" : `${syncing} systems`;
      replace(stateNote, strip("Information", `Waiting for ${who} to confirm the formation's configuration; the state changes here as soon as they answer.`));
    } else replace(stateNote);
    replace(
      header,
      field("Status", stateTag(f.state)),
      field("Type", ftype(f)?.displayName ?? f.formationType),
      field("Environment", f.environment ? (environmentLabels[f.environment] ?? f.environment) : "Any"),
      field("Systems", String(assignments.length)),
      field("Created", dateTime(f.createTime)),
      field("Changed", dateTime(f.updateTime)),
      field("ID", idOf(f.name)),
    );
    // Display names of the assigned systems.
    await Promise.all(
      assignments
        .filter((a) => !systemsByName.has(a.system))
        .map((a) =>
          ctx.api.getSystem(a.system).then(
            (s) => systemsByName.set(a.system, s),
            () => undefined,
          ),
        ),
    );
    if (formation !== f) return;
    if (assignments.length === 0) {
      replace(
        assignmentsSlot,
        h(
          "ui5-illustrated-message",
          { name: "NoEntries", design: "Spot", "title-text": "No systems yet", "subtitle-text": "Include systems so that they can work together." },
          action(ctx, { design: "Emphasized", onclick: () => void include() }, "Include systems"),
        ),
      );
      return;
    }
    replace(
      assignmentsSlot,
      h(
        "ui5-table",
        { "accessible-name": "Systems in this formation", "overflow-mode": "Popin", id: "assignments-table" },
        h(
          "ui5-table-header-row",
          { slot: "headerRow" },
          h("ui5-table-header-cell", null, "System"),
          h("ui5-table-header-cell", null, "Type"),
          h("ui5-table-header-cell", null, "Assignment"),
          h("ui5-table-header-cell", null, "API access"),
          h("ui5-table-header-cell", null, "Configuration"),
          h("ui5-table-header-cell", null, "Included"),
          h("ui5-table-header-cell", null, ""),
        ),
        assignments.map((a) => {
          const s = systemsByName.get(a.system);
          const st = stype(a.systemType ?? s?.type);
          const display = s?.displayName ?? idOf(a.system);
          return h(
            "ui5-table-row",
            { "row-key": a.system, "data-system": idOf(a.system) },
            h("ui5-table-cell", null, link(display, href({ page: "system", id: idOf(a.system) }))),
            h("ui5-table-cell", null, st?.displayName ?? a.systemType ?? "—"),
            h("ui5-table-cell", null, stateTag(a.state), a.stateMessage ? h("div", { class: "muted" }, a.stateMessage) : null),
            h("ui5-table-cell", null, st?.assignableBeforePairing ? (a.apiAccessEnabled ? "On" : "Off until paired") : a.apiAccessEnabled ? "On" : "—"),
            h("ui5-table-cell", null, configurationCell(a, display)),
            h("ui5-table-cell", null, dateTime(a.assignTime)),
            h("ui5-table-cell", null, action(ctx, { design: "Transparent", onclick: () => void exclude(a.system, display), "accessible-name": `Exclude ${display}` }, "Exclude")),
          );
        }),
      ),
    );
  }

  // The configuration a system's webhook answered with: a count in the
  // table, the full JSON (read-only) in a dialog.
  function configurationCell(a: Assignment, display: string): HTMLElement | string {
    const summary = configurationSummary(a.configuration);
    if (summary === "—") return summary;
    return h(
      "ui5-link",
      { "accessible-name": `Configuration of ${display}: ${summary}`, "data-action": "show-configuration", onclick: () => showConfiguration(a, display) },
      summary,
    );
  }

  function showConfiguration(a: Assignment, display: string): void {
    const d = dialog(
      `Configuration of ${display}`,
      [
        h(
          "div",
          { class: "form wide" },
          h("div", { class: "muted", id: "configuration-received" }, a.configurationUpdateTime ? `Received from the system's webhook on ${dateTime(a.configurationUpdateTime)}.` : "Received from the system's webhook."),
          h("pre", { class: "command configuration-json", tabindex: 0, "aria-label": `Configuration of ${display} as JSON` }, configurationJSON(a.configuration)),
        ),
      ],
      [h("ui5-button", { design: "Emphasized", onclick: () => d.close() }, "Close")],
      { class: "configuration-dialog" },
    );
  }

  async function load(): Promise<void> {
    try {
      const [f, ft, st] = await Promise.all([ctx.api.getFormation(name), ctx.formationTypes().catch(() => []), ctx.systemTypes().catch(() => [])]);
      ftypes = ft;
      stypes = st;
      messages.clear();
      await render(f);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        replace(actions);
        replace(header);
        replace(assignmentsSlot);
        replace(stateNote);
        heading.textContent = "Not found";
        header.closest("ui5-dynamic-page-header")?.remove();
        tabs.replaceWith(notFound(ctx, "formation", id, "Formations"));
      } else messages.show(err);
    }
  }

  async function exclude(system: string, display: string): Promise<void> {
    if (!formation) return;
    try {
      const f = await ctx.api.unassignSystem(formation.name, system);
      await render(f);
      ctx.toast(`${display} excluded`);
    } catch (err) {
      messages.show(err);
    }
  }

  // Resynchronize sends the notification again to every system whose
  // webhook is not READY (after its side was fixed).
  function resyncButton(f: Formation): HTMLElement {
    const waiting = (f.assignments ?? []).filter((a) => a.webhook && (a.state === "ERROR" || a.state === "SYNCHRONIZING"));
    const b = action(ctx, { icon: "synchronize", onclick: () => void resynchronize(), "data-action": "resynchronize" }, "Resynchronize");
    if (ctx.canWrite && waiting.length === 0) {
      b.setAttribute("disabled", "");
      b.setAttribute("tooltip", "Every system notified by webhook is ready: there is nothing to send again.");
    } else if (ctx.canWrite) {
      b.setAttribute("tooltip", `Notify again the ${waiting.length === 1 ? "system" : `${waiting.length} systems`} in Error or Synchronizing.`);
    }
    return b;
  }

  async function resynchronize(): Promise<void> {
    if (!formation) return;
    try {
      await render(await ctx.api.resynchronizeFormation(formation.name));
      ctx.toast("Notifications sent again");
    } catch (err) {
      messages.show(err);
    }
  }

  async function include(): Promise<void> {
    if (!formation) return;
    const f = formation;
    const t = ftype(f);
    const strip = h("div", { class: "messages" });
    let list: ReturnType<typeof candidateList> | undefined;
    const body = h("div", { class: "include-body" }, h("ui5-busy-indicator", { active: true, size: "M", delay: 1000 }));
    const submit = async (): Promise<void> => {
      const chosen = list?.selected() ?? [];
      if (chosen.length === 0) {
        replace(strip, h("ui5-message-strip", { design: "Information", "hide-close-button": true }, "Choose at least one system."));
        return;
      }
      const failures: HTMLElement[] = [];
      let latest: Formation | undefined;
      for (const s of chosen) {
        try {
          latest = await ctx.api.assignSystem(f.name, s.name);
        } catch (err) {
          failures.push(errorStrip(err, [` (${s.displayName})`]));
        }
      }
      if (latest) await render(latest);
      if (failures.length) replace(strip, ...failures);
      else {
        d.close();
        ctx.toast(`${chosen.length} system${chosen.length === 1 ? "" : "s"} included`);
      }
    };
    const d = dialog(`Include systems in ${f.displayName}`, [h("div", { class: "form wide" }, strip, body)], [
      h("ui5-button", { design: "Emphasized", onclick: () => void submit(), "data-action": "include-submit" }, "Include"),
      h("ui5-button", { design: "Transparent", onclick: () => d.close() }, "Cancel"),
    ], { class: "include-dialog" });
    try {
      const c = await loadCandidates(ctx);
      list = candidateList({ formationType: f.formationType, environment: f.environment || undefined, exclusive: t?.exclusive, allowedSystemTypes: t?.allowedSystemTypes, formation: f.name }, c.systems, stypes, c.formationTypeOf, () => {});
      replace(body, list.el);
    } catch (err) {
      replace(body, errorStrip(err));
    }
  }

  function rename(): void {
    if (!formation) return;
    const f = formation;
    const strip = h("div", { class: "messages" });
    const input = h("ui5-input", { id: "rename-formation", value: f.displayName, required: true, "accessible-name": "Name" }) as Valued;
    input.addEventListener("input", () => setFieldError(input, displayNameProblem(input.value.trim())));
    const save = async (): Promise<void> => {
      const problem = displayNameProblem(input.value.trim());
      setFieldError(input, problem);
      if (problem) return;
      try {
        await render(await ctx.api.updateFormation(f.name, { displayName: input.value.trim(), etag: f.etag }, ["displayName"]));
        d.close();
        ctx.toast("Renamed");
      } catch (err) {
        if (messageFor(err).field === "displayName") setFieldError(input, messageFor(err).text);
        replace(strip, errorStrip(err));
      }
    };
    const d = dialog(`Rename ${f.displayName}`, [h("div", { class: "form" }, strip, h("ui5-label", { for: "rename-formation", required: true, "show-colon": true }, "Name"), input)], [
      h("ui5-button", { design: "Emphasized", onclick: () => void save() }, "Save"),
      h("ui5-button", { design: "Transparent", onclick: () => d.close() }, "Cancel"),
    ]);
  }

  function remove(): void {
    if (!formation) return;
    const f = formation;
    const strip = h("div", { class: "messages" });
    const n = f.assignments?.length ?? 0;
    const confirm = async (): Promise<void> => {
      try {
        await ctx.api.deleteFormation(f.name);
        d.close();
        ctx.toast(`${f.displayName} deleted`);
        ctx.go({ page: "formations" });
      } catch (err) {
        replace(strip, errorStrip(err));
      }
    };
    const d = dialog(
      `Delete ${f.displayName}?`,
      [
        h(
          "div",
          { class: "form" },
          strip,
          h("p", null, h("b", null, "This cannot be undone. "), n > 0 ? `The ${n} system${n === 1 ? "" : "s"} in it leave the formation (the systems themselves stay registered), then the formation is deleted.` : "The formation is deleted."),
        ),
      ],
      [h("ui5-button", { design: "Negative", onclick: () => void confirm(), "data-action": "confirm-delete" }, "Delete"), h("ui5-button", { design: "Transparent", onclick: () => d.close() }, "Cancel")],
      { state: "Critical" },
    );
  }

  const reloadSoon = keyedDebounce(() => void load(), 50);
  const unsubscribe = ctx.live.subscribe((e) => {
    const fm = formationOfSubject(e.subject);
    const sys = systemOfSubject(e.subject);
    if (fm === name) {
      reloadSoon("f");
    } else if (sys && formation?.assignments?.some((a) => a.system === sys)) {
      systemsByName.delete(sys);
      reloadSoon("f");
    }
  });

  void load();
  return view(name, unsubscribe);
}
