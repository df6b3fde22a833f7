// The object page (Fiori floorplan) that a system's and a formation's
// details share: a breadcrumb back to the list, a title that the collapsed
// header repeats, a subheading, an actions bar, header facts, the page's
// messages, a note on the object's state, and tabs of which the last is the
// object's activity. The page fills the parts it returns.
import "@ui5/webcomponents/dist/Tab.js";
import "@ui5/webcomponents/dist/TabContainer.js";

import type { Ctx, View } from "../context";
import { h } from "../dom";
import { auditTable } from "./audit";

export interface ObjectPageOptions {
  /** id is the title until the object is loaded. */
  id: string;
  /** titleId is the heading's element id. */
  titleId: string;
  /** list is the breadcrumb back to the object's list. */
  list: { href: string; text: string };
  /** stateNoteId is the state note's element id, if it needs one. */
  stateNoteId?: string;
  /** messages holds the page's errors (Messages.el). */
  messages: HTMLElement;
  /** sections is the accessible name of the tabs. */
  sections: string;
  /** first is the tab before Activity, selected at first. */
  first: { text: string; el: HTMLElement };
  /** activity is the accessible name of the Activity tab's table. */
  activity: string;
}

export interface ObjectPage {
  el: HTMLElement;
  heading: HTMLElement;
  subheading: HTMLElement;
  actions: HTMLElement;
  header: HTMLElement;
  stateNote: HTMLElement;
  tabs: HTMLElement;
  /** view shows the activity of subject and returns the page's view;
   * disposing of it calls unsubscribe and disposes of the activity. */
  view(subject: string, unsubscribe: () => void): View;
}

export function objectPage(ctx: Ctx, o: ObjectPageOptions): ObjectPage {
  const heading = h("ui5-title", { slot: "heading", level: "H1", size: "H3", id: o.titleId }, o.id);
  // The title shows snappedHeading instead when the header is collapsed.
  const snappedHeading = h("ui5-title", { slot: "snappedHeading", level: "H1", size: "H5" }, o.id);
  new MutationObserver(() => (snappedHeading.textContent = heading.textContent)).observe(heading, { childList: true, characterData: true, subtree: true });
  const subheading = h("div", { slot: "subheading", class: "subheading-row" });
  const actions = h("div", { slot: "actionsBar", class: "actions" });
  const header = h("div", { class: "facts" });
  const stateNote = h("div", { class: "messages", id: o.stateNoteId });
  const activity = auditTable(ctx, o.activity);
  const tabs = h(
    "ui5-tabcontainer",
    { class: "tabs", "accessible-name": o.sections },
    h("ui5-tab", { text: o.first.text, selected: true }, o.first.el),
    h("ui5-tab", { text: "Activity" }, activity.el),
  );
  const el = h(
    "ui5-dynamic-page",
    { class: "page", "hide-pin-button": true },
    h("ui5-dynamic-page-title", { slot: "titleArea" }, h("ui5-link", { slot: "breadcrumbs", href: o.list.href }, o.list.text), heading, snappedHeading, subheading, actions),
    h("ui5-dynamic-page-header", { slot: "headerArea" }, header),
    o.messages,
    stateNote,
    tabs,
  );
  const view = (subject: string, unsubscribe: () => void): View => {
    void activity.show({ subject });
    return {
      el,
      title: o.id,
      dispose: () => {
        unsubscribe();
        activity.dispose();
      },
    };
  };
  return { el, heading, subheading, actions, header, stateNote, tabs, view };
}
