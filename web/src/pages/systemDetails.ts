// System details: the object page. Header facts, the reason of an Error
// and what to do next, actions (Get new token, Edit, Deregister) and the
// Formations and Activity tabs, all following live events.
import "@ui5/webcomponents/dist/Dialog.js";
import "@ui5/webcomponents-fiori/dist/illustrations/PageNotFound.js";
import "@ui5/webcomponents-icons/dist/copy.js";
import "@ui5/webcomponents-icons/dist/delete.js";
import "@ui5/webcomponents-icons/dist/edit.js";
import "@ui5/webcomponents-icons/dist/key.js";

import { ApiError, idOf, type Formation, type System, type SystemType } from "../api";
import type { Ctx, View } from "../context";
import { h, replace } from "../dom";
import { messageFor } from "../errors";
import { dateTime, displayNameProblem } from "../format";
import { formationOfSubject, systemOfSubject } from "../live";
import { href } from "../router";
import { Messages, action, dialog, errorStrip, field, keyedDebounce, link, notFound, stateTag, strip } from "../ui";
import { objectPage } from "./objectPage";
import { setFieldError } from "./registerSystem";
import { tokenPanel } from "./tokenPanel";

type Valued = HTMLElement & { value: string };

export function systemDetailsPage(ctx: Ctx, id: string): View {
  const name = `globalAccounts/${ctx.ga}/systems/${id}`;
  const messages = new Messages();
  let system: System | undefined;
  let types: SystemType[] = [];
  const typeName = (t: string): string => types.find((x) => idOf(x.name) === t)?.displayName ?? t;

  const formationsSlot = h("div");
  const { heading, subheading, actions, header, stateNote, tabs, view } = objectPage(ctx, {
    id,
    titleId: "system-title",
    list: { href: "#/systems", text: "Systems" },
    messages: messages.el,
    sections: "System sections",
    first: { text: "Formations", el: formationsSlot },
    activity: "Activity of this system",
  });

  function render(s: System): void {
    system = s;
    heading.textContent = s.displayName;
    replace(subheading, stateTag(s.state), h("span", { class: "muted" }, ` ${typeName(s.type)}`));
    const canToken = s.state === "PENDING" || s.state === "ERROR";
    const tokenBtn = action(ctx, { icon: "key", design: s.state === "ERROR" ? "Emphasized" : "Default", onclick: () => void newToken(), "data-action": "new-token" }, "Get new token");
    if (ctx.canWrite && !canToken) {
      tokenBtn.setAttribute("disabled", "");
      tokenBtn.setAttribute("tooltip", "A registered system needs no token.");
    }
    replace(
      actions,
      tokenBtn,
      action(ctx, { icon: "edit", onclick: () => edit(), "data-action": "edit" }, "Edit"),
      action(ctx, { icon: "delete", design: "Transparent", onclick: () => deregister(), "data-action": "deregister" }, "Deregister"),
    );
    replace(
      header,
      field("Status", stateTag(s.state)),
      field("Type", typeName(s.type)),
      field("Base URL", s.baseUrl ? s.baseUrl : h("span", { class: "muted" }, "reported at pairing")),
      field("External ID", s.externalId ? s.externalId : h("span", { class: "muted" }, "reported at pairing")),
      field("Created", dateTime(s.createTime)),
      field("Registered", s.registerTime ? dateTime(s.registerTime) : h("span", { class: "muted" }, "not yet")),
      field("Changed", dateTime(s.updateTime)),
      field("ID", idOf(s.name)),
      s.description ? field("Description", s.description) : null,
    );
    if (s.state === "ERROR") {
      replace(
        stateNote,
        h(
          "ui5-message-strip",
          { design: "Negative", "hide-close-button": true, id: "system-error" },
          h("b", null, "Pairing failed: "),
          s.stateMessage || "no reason was given.",
          h("br"),
          "Next step: get a new token and have the system's administrators pair again, with the system type ",
          h("code", null, s.type),
          ".",
        ),
      );
    } else if (s.state === "PENDING") {
      replace(
        stateNote,
        strip("Information", "Waiting for the system's side to pair with its integration token. The token is shown only when it is created; if it is lost or expired, get a new one."),
      );
    } else replace(stateNote);
    void renderFormations(s);
  }

  async function renderFormations(s: System): Promise<void> {
    const names = s.formations ?? [];
    if (names.length === 0) {
      replace(formationsSlot, h("ui5-illustrated-message", { name: "NoEntries", design: "Spot", "title-text": "In no formation", "subtitle-text": "Include the system in a formation from the formation's page." }));
      return;
    }
    const fs = await Promise.all(names.map((n) => ctx.api.getFormation(n).catch(() => undefined)));
    replace(
      formationsSlot,
      h(
        "ui5-table",
        { "accessible-name": "Formations of this system", "overflow-mode": "Popin" },
        h(
          "ui5-table-header-row",
          { slot: "headerRow" },
          h("ui5-table-header-cell", null, "Formation"),
          h("ui5-table-header-cell", null, "Formation status"),
          h("ui5-table-header-cell", null, "This system's assignment"),
        ),
        names.map((n, i) => {
          const f: Formation | undefined = fs[i];
          const a = f?.assignments?.find((x) => x.system === s.name);
          return h(
            "ui5-table-row",
            { "row-key": n },
            h("ui5-table-cell", null, link(f?.displayName ?? idOf(n), href({ page: "formation", id: idOf(n) }))),
            h("ui5-table-cell", null, f ? stateTag(f.state) : "—"),
            h("ui5-table-cell", null, a ? stateTag(a.state) : "—", a?.stateMessage ? h("span", { class: "muted" }, ` ${a.stateMessage}`) : null),
          );
        }),
      ),
    );
  }

  async function load(): Promise<void> {
    try {
      const [s, t] = await Promise.all([ctx.api.getSystem(name), ctx.systemTypes().catch(() => [] as SystemType[])]);
      types = t;
      messages.clear();
      render(s);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        replace(stateNote);
        replace(actions);
        replace(header);
        heading.textContent = "Not found";
        header.closest("ui5-dynamic-page-header")?.remove();
        tabs.replaceWith(notFound(ctx, "system", id, "Systems"));
      } else messages.show(err);
    }
  }

  async function newToken(): Promise<void> {
    if (!system) return;
    const s = system;
    try {
      const token = await ctx.api.generateToken(s.name);
      const fresh = await ctx.api.getSystem(s.name).catch(() => s);
      render(fresh);
      const panel = tokenPanel(ctx, fresh, token);
      const d = dialog(`New token for ${s.displayName}`, [panel.el], [h("ui5-button", { design: "Emphasized", onclick: () => d.close() }, "Done")], { class: "token-dialog" });
      d.el.addEventListener("close", () => panel.dispose());
      ctx.toast("New token created; earlier unused tokens are revoked");
    } catch (err) {
      messages.show(err);
    }
  }

  function edit(): void {
    if (!system) return;
    const s = system;
    const strip = h("div", { class: "messages" });
    const nameInput = h("ui5-input", { id: "edit-name", value: s.displayName, required: true, "accessible-name": "Name" }) as Valued;
    nameInput.addEventListener("input", () => setFieldError(nameInput, displayNameProblem(nameInput.value.trim())));
    const desc = h("ui5-textarea", { id: "edit-description", value: s.description ?? "", rows: 3, "accessible-name": "Description" }) as Valued;
    const save = async (): Promise<void> => {
      const problem = displayNameProblem(nameInput.value.trim());
      setFieldError(nameInput, problem);
      if (problem) return;
      try {
        const updated = await ctx.api.updateSystem(s.name, { displayName: nameInput.value.trim(), description: desc.value, etag: s.etag }, ["displayName", "description"]);
        render(updated);
        d.close();
        ctx.toast("Saved");
      } catch (err) {
        if (messageFor(err).field === "displayName") setFieldError(nameInput, messageFor(err).text);
        replace(strip, errorStrip(err));
      }
    };
    const d = dialog(
      `Edit ${s.displayName}`,
      [h("div", { class: "form" }, strip, h("ui5-label", { for: "edit-name", required: true, "show-colon": true }, "Name"), nameInput, h("ui5-label", { for: "edit-description", "show-colon": true }, "Description"), desc)],
      [h("ui5-button", { design: "Emphasized", onclick: () => void save() }, "Save"), h("ui5-button", { design: "Transparent", onclick: () => d.close() }, "Cancel")],
    );
  }

  function deregister(): void {
    if (!system) return;
    const s = system;
    const strip = h("div", { class: "messages" });
    const confirm = async (): Promise<void> => {
      try {
        await ctx.api.deregisterSystem(s.name);
        d.close();
        ctx.toast(`${s.displayName} deregistered`);
        ctx.go({ page: "systems" });
      } catch (err) {
        if (err instanceof ApiError && err.reason === "SYSTEM_IN_FORMATION") {
          const fresh = await ctx.api.getSystem(s.name).catch(() => s);
          const fs = await Promise.all((fresh.formations ?? []).map((f) => ctx.api.getFormation(f).catch(() => undefined)));
          const links = (fresh.formations ?? []).map((f, i) => [i > 0 ? ", " : "", link(fs[i]?.displayName ?? idOf(f), href({ page: "formation", id: idOf(f) }), { onclick: () => d.close() })]);
          replace(strip, errorStrip(err, links.length ? [h("br"), "It is in: ", ...links] : []));
        } else replace(strip, errorStrip(err));
      }
    };
    const d = dialog(
      `Deregister ${s.displayName}?`,
      [
        h(
          "div",
          { class: "form" },
          strip,
          h("p", null, "The system leaves the landscape: its unused tokens are revoked and its name becomes free. A system in a formation must be excluded from it first."),
        ),
      ],
      [h("ui5-button", { design: "Negative", onclick: () => void confirm(), "data-action": "confirm-deregister" }, "Deregister"), h("ui5-button", { design: "Transparent", onclick: () => d.close() }, "Cancel")],
      { state: "Critical" },
    );
  }

  const reloadSoon = keyedDebounce(() => void load(), 50);
  const unsubscribe = ctx.live.subscribe((e) => {
    const sys = systemOfSubject(e.subject);
    const f = formationOfSubject(e.subject);
    if (sys === name || (f && system?.formations?.includes(f))) {
      reloadSoon("system");
    }
  });

  void load();
  return view(name, unsubscribe);
}
