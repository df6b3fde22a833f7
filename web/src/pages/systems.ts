// Systems: the list report. Pages of the API as the list grows, server
// filters by type and status, a name search over what is loaded, rows that
// follow live events.
import { ApiError, idOf, type System, type SystemType } from "../api";
import type { Ctx, View } from "../context";
import { h, replace } from "../dom";
import { dateTime, listFilter } from "../format";
import { systemOfSubject, type LiveEvent } from "../live";
import { href } from "../router";
import { Messages, action, keyedDebounce, stateTag, stickBelowTitle } from "../ui";

// The first page and each "More": 25 rows, about a screen and a half (Fiori
// lists grow by 20).
export const pageSize = 25;

export function systemsPage(ctx: Ctx): View {
  let systems: System[] = [];
  let nextPageToken = "";
  let types: SystemType[] = [];
  // Display names of the account's formations, for the Formations column.
  let formationNames = new Map<string, string>();
  let typeFilter = "";
  let stateFilter = "";
  let search = "";
  let loadSeq = 0;
  const messages = new Messages();

  const typeName = (id: string): string => types.find((t) => idOf(t.name) === id)?.displayName ?? id;

  const count = h("ui5-text", { class: "subheading", id: "systems-count" }, "");
  const register = action(ctx, { design: "Emphasized", icon: "add", onclick: () => ctx.go({ page: "register-system" }), "data-action": "register" }, "Register System");
  const refresh = h("ui5-button", { design: "Transparent", icon: "refresh", tooltip: "Refresh", "accessible-name": "Refresh", onclick: () => void load() });

  const searchInput = h("ui5-input", { placeholder: "Search by name", "accessible-name": "Search by name", type: "Search", id: "systems-search", "show-clear-icon": true }, h("ui5-icon", { slot: "icon", name: "search" }));
  searchInput.addEventListener("input", () => {
    search = ((searchInput as unknown as { value: string }).value ?? "").trim().toLowerCase();
    renderRows();
  });
  const typeSelect = h("ui5-select", { "accessible-name": "Type", id: "filter-type" }, h("ui5-option", { value: "" }, "All types"));
  typeSelect.addEventListener("change", () => {
    typeFilter = (typeSelect as unknown as { value: string }).value;
    void load();
  });
  const stateSelect = h(
    "ui5-select",
    { "accessible-name": "Status", id: "filter-status" },
    h("ui5-option", { value: "" }, "All statuses"),
    h("ui5-option", { value: "REGISTERED" }, "Registered"),
    h("ui5-option", { value: "PENDING" }, "Pending"),
    h("ui5-option", { value: "ERROR" }, "Error"),
  );
  stateSelect.addEventListener("change", () => {
    stateFilter = (stateSelect as unknown as { value: string }).value;
    void load();
  });

  const growing = h("ui5-table-growing", { slot: "features", mode: "Button", text: "More", "data-growing": true });
  growing.addEventListener("load-more", () => void more());
  const noData = h("div", { slot: "noData", class: "no-data" });
  const table = h(
    "ui5-table",
    { "accessible-name": "Systems", id: "systems-table", "overflow-mode": "Popin", loading: true, "loading-delay": 1000 },
    h(
      "ui5-table-header-row",
      { slot: "headerRow", sticky: true },
      h("ui5-table-header-cell", { width: "28%" }, "Name"),
      h("ui5-table-header-cell", { width: "20%" }, "Type"),
      h("ui5-table-header-cell", { width: "14%" }, "Status"),
      h("ui5-table-header-cell", { width: "18%" }, "Formations"),
      h("ui5-table-header-cell", { width: "20%" }, "Created"),
    ),
    noData,
  );
  table.addEventListener("row-click", (e: Event) => {
    const row = (e as CustomEvent<{ row: HTMLElement }>).detail.row;
    const key = row.getAttribute("row-key");
    if (key) ctx.go({ page: "system", id: idOf(key) });
  });

  // Rows are plain anchors and text around one ui5-tag: a page of 50 rows
  // renders in a fraction of the time ui5-link cells would take.
  function row(s: System): HTMLElement {
    const formations = s.formations ?? [];
    const id = idOf(s.name);
    return h(
      "ui5-table-row",
      { "row-key": s.name, interactive: true, "data-system": id },
      h("ui5-table-cell", null, h("a", { class: "link", href: href({ page: "system", id }) }, s.displayName)),
      h("ui5-table-cell", null, typeName(s.type)),
      h("ui5-table-cell", null, stateTag(s.state)),
      h(
        "ui5-table-cell",
        null,
        formations.length === 0
          ? h("span", { class: "muted" }, "—")
          : formations.map((f, i) => [i > 0 ? ", " : "", h("a", { class: "link", href: href({ page: "formation", id: idOf(f) }) }, formationNames.get(f) ?? idOf(f))]),
      ),
      h("ui5-table-cell", null, dateTime(s.createTime)),
    );
  }

  // The rendered row of each system, kept so that loading more pages or
  // changing the search appends or moves rows instead of rebuilding them.
  const rowEls = new Map<string, HTMLElement>();
  function rowFor(s: System): HTMLElement {
    let el = rowEls.get(s.name);
    if (!el) {
      el = row(s);
      rowEls.set(s.name, el);
    }
    return el;
  }

  const matches = (s: System): boolean =>
    (!search || s.displayName.toLowerCase().includes(search)) && (!typeFilter || s.type === typeFilter) && (!stateFilter || s.state === stateFilter);

  function renderRows(): void {
    const shown = systems.filter(matches);
    const want = shown.map(rowFor);
    const have = [...table.querySelectorAll(":scope > ui5-table-row")];
    const keep = have.length <= want.length && have.every((el, i) => el === want[i]);
    if (!keep) for (const el of have) el.remove();
    table.append(...want.slice(keep ? have.length : 0));
    const filtered = Boolean(search || typeFilter || stateFilter);
    count.textContent = nextPageToken
      ? `${shown.length} shown, more to load`
      : `${shown.length} system${shown.length === 1 ? "" : "s"}${filtered ? " match" : ""}`;
    if (nextPageToken) {
      if (!growing.isConnected) table.appendChild(growing);
    } else growing.remove();
    if (shown.length === 0) {
      replace(
        noData,
        filtered
          ? h("ui5-illustrated-message", { name: "NoFilterResults", "title-text": "No systems match", "subtitle-text": nextPageToken ? "None of the systems loaded so far match. Load more, or change the search and filters." : "Change the search or the filters." }, nextPageToken ? h("ui5-button", { onclick: () => void more() }, "Load more") : null)
          : h(
              "ui5-illustrated-message",
              { name: "NoEntries", "title-text": "No systems yet", "subtitle-text": "Register a system to get its integration token, then pair it from the system's side." },
              action(ctx, { design: "Emphasized", onclick: () => ctx.go({ page: "register-system" }) }, "Register System"),
            ),
      );
    }
    // A search that hides every loaded row keeps loading pages (bounded).
    if (search && shown.length < pageSize && nextPageToken && autoPages < 20) {
      autoPages++;
      void more();
    }
  }
  let autoPages = 0;

  async function load(): Promise<void> {
    const n = ++loadSeq;
    table.setAttribute("loading", "");
    messages.clear();
    autoPages = 0;
    try {
      const [page, t, fs] = await Promise.all([
        ctx.api.listSystems(ctx.ga, { pageSize, filter: listFilter({ type: typeFilter, state: stateFilter }) }),
        ctx.systemTypes().catch(() => [] as SystemType[]),
        ctx.api.listFormations(ctx.ga, { pageSize: 1000 }).catch(() => ({ formations: [] })),
      ]);
      if (n !== loadSeq) return;
      types = t;
      formationNames = new Map((fs.formations ?? []).map((f) => [f.name, f.displayName]));
      fillTypes();
      systems = page.systems ?? [];
      nextPageToken = page.nextPageToken ?? "";
      rowEls.clear();
      renderRows();
    } catch (err) {
      if (n !== loadSeq) return;
      messages.show(err);
      systems = [];
      nextPageToken = "";
      renderRows();
    } finally {
      if (n === loadSeq) table.removeAttribute("loading");
    }
  }

  let loadingMore = false;
  async function more(): Promise<void> {
    if (!nextPageToken || loadingMore) return;
    loadingMore = true;
    const n = loadSeq;
    table.setAttribute("loading", "");
    try {
      const page = await ctx.api.listSystems(ctx.ga, { pageSize, pageToken: nextPageToken, filter: listFilter({ type: typeFilter, state: stateFilter }) });
      if (n !== loadSeq) return;
      const known = new Set(systems.map((s) => s.name));
      systems = systems.concat((page.systems ?? []).filter((s) => !known.has(s.name)));
      nextPageToken = page.nextPageToken ?? "";
      renderRows();
    } catch (err) {
      messages.show(err);
    } finally {
      loadingMore = false;
      table.removeAttribute("loading");
    }
  }

  function fillTypes(): void {
    if (typeSelect.querySelectorAll("ui5-option").length > 1) return;
    for (const t of types) typeSelect.appendChild(h("ui5-option", { value: idOf(t.name) }, t.displayName));
  }

  // Live: re-read the system an event is about and update its row in place.
  const refreshOne = keyedDebounce((name) => void refreshSystem(name), 30);
  async function refreshSystem(name: string): Promise<void> {
    const i = systems.findIndex((s) => s.name === name);
    try {
      const s = await ctx.api.getSystem(name);
      await Promise.all(
        (s.formations ?? [])
          .filter((f) => !formationNames.has(f))
          .map((f) => ctx.api.getFormation(f).then((x) => formationNames.set(f, x.displayName), () => undefined)),
      );
      if (i >= 0) {
        const j = systems.findIndex((x) => x.name === name);
        if (j >= 0) systems[j] = s;
        const old = rowEls.get(name);
        rowEls.delete(name);
        if (old?.isConnected && matches(s)) old.replaceWith(rowFor(s));
        else renderRows();
      } else if (!nextPageToken) {
        // Lists are in creation order: a new system belongs at the end,
        // which is loaded only when every page is.
        systems.push(s);
        renderRows();
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && i >= 0) {
        systems = systems.filter((s) => s.name !== name);
        rowEls.get(name)?.remove();
        rowEls.delete(name);
        renderRows();
      }
    }
  }
  const unsubscribe = ctx.live.subscribe((e: LiveEvent) => {
    const name = systemOfSubject(e.subject);
    if (name) refreshOne(name);
  });

  const page = h(
    "ui5-dynamic-page",
    { class: "page", "hide-pin-button": true },
    h(
      "ui5-dynamic-page-title",
      { slot: "titleArea" },
      h("ui5-title", { slot: "heading", level: "H1", size: "H3" }, "Systems"),
      h("ui5-title", { slot: "snappedHeading", level: "H1", size: "H5" }, "Systems"),
      h("div", { slot: "subheading" }, count),
      h("div", { slot: "actionsBar", class: "actions" }, register, refresh),
    ),
    h(
      "ui5-dynamic-page-header",
      { slot: "headerArea" },
      h(
        "div",
        { class: "filterbar", role: "search", "aria-label": "Filter systems" },
        h("div", { class: "filter" }, h("ui5-label", { for: "systems-search" }, "Search"), searchInput),
        h("div", { class: "filter" }, h("ui5-label", { for: "filter-type" }, "Type"), typeSelect),
        h("div", { class: "filter" }, h("ui5-label", { for: "filter-status" }, "Status"), stateSelect),
      ),
    ),
    messages.el,
    table,
  );

  const unstick = stickBelowTitle(page, table);

  void load();
  return {
    el: page,
    title: "Systems",
    dispose: () => {
      unsubscribe();
      unstick();
    },
  };
}
