// Formations: the list report.
import { idOf, type Formation, type FormationType } from "../api";
import type { Ctx, View } from "../context";
import { h, replace } from "../dom";
import { dateTime, environmentLabels, listFilter } from "../format";
import { formationOfSubject } from "../live";
import { href } from "../router";
import { Messages, action, keyedDebounce, link, stateTag } from "../ui";

export function formationsPage(ctx: Ctx): View {
  const messages = new Messages();
  let formations: Formation[] = [];
  let nextPageToken = "";
  let types: FormationType[] = [];
  let stateFilter = "";
  let seq = 0;
  const typeName = (t: string): string => types.find((x) => idOf(x.name) === t)?.displayName ?? t;

  const count = h("ui5-text", { class: "subheading" }, "");
  const create = action(ctx, { design: "Emphasized", icon: "add", onclick: () => ctx.go({ page: "create-formation" }), "data-action": "create-formation" }, "Create Formation");
  const stateSelect = h(
    "ui5-select",
    { "accessible-name": "Status", id: "formation-status" },
    h("ui5-option", { value: "" }, "All statuses"),
    h("ui5-option", { value: "READY" }, "Ready"),
    h("ui5-option", { value: "PENDING" }, "Pending"),
    h("ui5-option", { value: "ERROR" }, "Error"),
  );
  stateSelect.addEventListener("change", () => {
    stateFilter = (stateSelect as unknown as { value: string }).value;
    void load();
  });
  const growing = h("ui5-table-growing", { slot: "features", mode: "Button", text: "More" });
  growing.addEventListener("load-more", () => void more());
  const noData = h("div", { slot: "noData", class: "no-data" });
  const table = h(
    "ui5-table",
    { "accessible-name": "Formations", id: "formations-table", "overflow-mode": "Popin", "loading-delay": 1000 },
    h(
      "ui5-table-header-row",
      { slot: "headerRow", sticky: true },
      h("ui5-table-header-cell", { width: "26%" }, "Name"),
      h("ui5-table-header-cell", { width: "28%" }, "Type"),
      h("ui5-table-header-cell", { width: "12%" }, "Environment"),
      h("ui5-table-header-cell", { width: "12%" }, "Status"),
      h("ui5-table-header-cell", { width: "8%" }, "Systems"),
      h("ui5-table-header-cell", { width: "14%" }, "Created"),
    ),
    noData,
  );
  table.addEventListener("row-click", (e: Event) => {
    const key = (e as CustomEvent<{ row: HTMLElement }>).detail.row.getAttribute("row-key");
    if (key) ctx.go({ page: "formation", id: idOf(key) });
  });

  const row = (f: Formation): HTMLElement =>
    h(
      "ui5-table-row",
      { "row-key": f.name, interactive: true, "data-formation": idOf(f.name) },
      h("ui5-table-cell", null, link(f.displayName, href({ page: "formation", id: idOf(f.name) }), { "accessible-name": `Open ${f.displayName}` })),
      h("ui5-table-cell", null, typeName(f.formationType)),
      h("ui5-table-cell", null, f.environment ? (environmentLabels[f.environment] ?? f.environment) : "Any"),
      h("ui5-table-cell", null, stateTag(f.state)),
      h("ui5-table-cell", null, String(f.assignments?.length ?? 0)),
      h("ui5-table-cell", null, dateTime(f.createTime)),
    );

  function renderRows(): void {
    for (const r of table.querySelectorAll("ui5-table-row")) r.remove();
    for (const f of formations) table.appendChild(row(f));
    if (nextPageToken) {
      if (!growing.isConnected) table.appendChild(growing);
    } else growing.remove();
    count.textContent = `${formations.length}${nextPageToken ? "+" : ""} formation${formations.length === 1 ? "" : "s"}`;
    replace(
      noData,
      stateFilter
        ? h("ui5-illustrated-message", { name: "NoFilterResults", "title-text": "No formations match", "subtitle-text": "Change the status filter." })
        : h(
            "ui5-illustrated-message",
            { name: "NoEntries", "title-text": "No formations yet", "subtitle-text": "A formation groups systems so that they can work together." },
            action(ctx, { design: "Emphasized", onclick: () => ctx.go({ page: "create-formation" }) }, "Create Formation"),
          ),
    );
  }

  async function load(): Promise<void> {
    const n = ++seq;
    table.setAttribute("loading", "");
    messages.clear();
    try {
      const [page, t] = await Promise.all([ctx.api.listFormations(ctx.ga, { pageSize: 50, filter: listFilter({ state: stateFilter }) }), ctx.formationTypes().catch(() => [] as FormationType[])]);
      if (n !== seq) return;
      types = t;
      formations = page.formations ?? [];
      nextPageToken = page.nextPageToken ?? "";
      renderRows();
    } catch (err) {
      if (n === seq) messages.show(err);
    } finally {
      if (n === seq) table.removeAttribute("loading");
    }
  }
  async function more(): Promise<void> {
    if (!nextPageToken) return;
    const n = seq;
    try {
      const page = await ctx.api.listFormations(ctx.ga, { pageSize: 50, pageToken: nextPageToken, filter: listFilter({ state: stateFilter }) });
      if (n !== seq) return;
      formations = formations.concat(page.formations ?? []);
      nextPageToken = page.nextPageToken ?? "";
      renderRows();
    } catch (err) {
      messages.show(err);
    }
  }

  const refreshOne = keyedDebounce(async (name) => {
    const i = formations.findIndex((f) => f.name === name);
    try {
      const f = await ctx.api.getFormation(name);
      if (i >= 0) formations[i] = f;
      else if (!nextPageToken) formations.push(f);
    } catch {
      if (i >= 0) formations.splice(i, 1);
    }
    renderRows();
  }, 50);
  const unsubscribe = ctx.live.subscribe((e) => {
    const f = formationOfSubject(e.subject);
    if (f) refreshOne(f);
  });

  void load();
  const el = h(
    "ui5-dynamic-page",
    { class: "page", "hide-pin-button": true },
    h(
      "ui5-dynamic-page-title",
      { slot: "titleArea" },
      h("ui5-title", { slot: "heading", level: "H1", size: "H3" }, "Formations"),
      h("ui5-title", { slot: "snappedHeading", level: "H1", size: "H5" }, "Formations"),
      h("div", { slot: "subheading" }, count),
      h("div", { slot: "actionsBar", class: "actions" }, create, h("ui5-button", { design: "Transparent", icon: "refresh", tooltip: "Refresh", "accessible-name": "Refresh", onclick: () => void load() })),
    ),
    h(
      "ui5-dynamic-page-header",
      { slot: "headerArea" },
      h("div", { class: "filterbar", role: "search", "aria-label": "Filter formations" }, h("div", { class: "filter" }, h("ui5-label", { for: "formation-status" }, "Status"), stateSelect)),
    ),
    messages.el,
    table,
  );
  return { el, title: "Formations", dispose: unsubscribe };
}
