// Building blocks the pages share: state tags, actions that respect the
// caller's role, message strips, delayed busy indicators.
import { h, replace, type Child, type Props } from "./dom";
import { messageFor } from "./errors";
import { stateDesign, stateLabel } from "./format";
import { needsWriterRole, type Ctx } from "./context";

export function stateTag(state: string | undefined): HTMLElement {
  return h("ui5-tag", { design: stateDesign(state as never), "color-scheme": "", "data-state": state ?? "" }, stateLabel(state));
}

/**
 * action is a button that changes something: a viewer sees it disabled,
 * with a tooltip naming the role it needs.
 */
export function action(ctx: Ctx, props: Props, text: string): HTMLElement {
  const p: Props = { ...props };
  if (!ctx.canWrite) {
    p.disabled = true;
    p.tooltip = needsWriterRole;
    p["accessible-description"] = needsWriterRole;
    for (const k of Object.keys(p)) if (k.startsWith("on")) delete p[k];
  }
  return h("ui5-button", p, text);
}

/**
 * readOnlyNote is the strip a viewer sees on a page that changes things
 * (Register System, Create Formation): what it may not do, and why.
 */
export function readOnlyNote(ctx: Ctx, what: string): HTMLElement | null {
  if (ctx.canWrite) return null;
  return h(
    "ui5-message-strip",
    { design: "Warning", "hide-close-button": true, class: "read-only-note", "data-forbidden": true },
    `You may not ${what}. `,
    needsWriterRole,
  );
}

/**
 * notFound replaces a details page whose resource the API does not find
 * in the caller's global account: deleted meanwhile, or a link from
 * another global account (which this one may not see).
 */
export function notFound(ctx: Ctx, kind: "system" | "formation", id: string, back: "Systems" | "Formations"): HTMLElement {
  return h(
    "ui5-illustrated-message",
    {
      name: "PageNotFound",
      "title-text": `No ${kind} “${id}” in global account ${ctx.ga}`,
      "subtitle-text": `It was ${kind === "system" ? "deregistered" : "deleted"}, or the link comes from another global account: you see only the ${back.toLowerCase()} of ${ctx.ga}.`,
      id: "not-found",
    },
    h("ui5-button", { design: "Emphasized", onclick: () => ctx.go({ page: back === "Systems" ? "systems" : "formations" }) }, `Back to ${back}`),
  );
}

/** strip is a message strip without a close button (a state's note, an info). */
export function strip(design: "Negative" | "Critical" | "Information" | "Positive", ...children: Child[]): HTMLElement {
  return h("ui5-message-strip", { design, "hide-close-button": true }, ...children);
}

/** errorStrip shows an API refusal in a message strip (reason text and field). */
export function errorStrip(err: unknown, children: Child[] = []): HTMLElement {
  const m = messageFor(err);
  return h(
    "ui5-message-strip",
    { design: "Negative", "hide-close-button": true, "data-reason": m.reason, "data-field": m.field ?? "", role: "alert" },
    m.text,
    m.detail && m.detail !== m.text ? ` (${m.detail})` : "",
    ...children,
  );
}

/** A slot to show messages in; show(err) or clear(). */
export class Messages {
  readonly el = h("div", { class: "messages" });
  show(err: unknown, children: Child[] = []): void {
    replace(this.el, errorStrip(err, children));
  }
  info(text: string, design = "Information"): void {
    replace(this.el, h("ui5-message-strip", { design, "hide-close-button": true }, text));
  }
  clear(): void {
    replace(this.el);
  }
}

/**
 * busy wraps content in a ui5-busy-indicator that turns on only when the
 * work takes longer than a second, so quick loads do not flicker.
 */
export function busyWrap(content: HTMLElement): { el: HTMLElement; run<T>(p: Promise<T>): Promise<T> } {
  const el = h("ui5-busy-indicator", { size: "M", class: "busy", delay: 1000 }, content);
  let pending = 0;
  return {
    el,
    async run<T>(p: Promise<T>): Promise<T> {
      pending++;
      el.setAttribute("active", "");
      try {
        return await p;
      } finally {
        if (--pending === 0) el.removeAttribute("active");
      }
    },
  };
}

/** A labelled read-only value for object page headers. */
export function field(label: string, value: Child, id?: string): HTMLElement {
  return h("div", { class: "field" }, h("ui5-label", { "show-colon": true, for: id }, label), h("div", { class: "field-value", id }, value));
}

export function link(text: string, hrefValue: string, props: Props = {}): HTMLElement {
  return h("ui5-link", { href: hrefValue, ...props }, text);
}

/** A dialog appended to the body; close() removes it. */
export function dialog(headerText: string, content: Child[], footer: Child[], props: Props = {}): { el: HTMLElement; close(): void } {
  const el = h("ui5-dialog", { "header-text": headerText, "accessible-name": headerText, ...props }, ...content, h("div", { slot: "footer", class: "dialog-footer" }, ...footer));
  el.addEventListener("close", () => el.remove());
  document.body.appendChild(el);
  (el as unknown as { open: boolean }).open = true;
  return {
    el,
    close() {
      (el as unknown as { open: boolean }).open = false;
    },
  };
}

/**
 * debounce coalesces bursts (several events about one resource) into one
 * call per key.
 */
export function keyedDebounce(fn: (key: string) => void, ms = 100): (key: string) => void {
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  return (key) => {
    clearTimeout(timers.get(key));
    timers.set(
      key,
      setTimeout(() => {
        timers.delete(key);
        fn(key);
      }, ms),
    );
  };
}

/**
 * stickBelowTitle makes a table's header row stick below the dynamic
 * page's title bar, which stays on top when the page scrolls; it returns
 * a function that stops following the title's height. (The header row
 * copies the table's sticky-top only when it renders, so both are set.)
 */
export function stickBelowTitle(page: HTMLElement, table: HTMLElement): () => void {
  const title = page.querySelector<HTMLElement>("ui5-dynamic-page-title");
  const row = table.querySelector<HTMLElement>("ui5-table-header-row");
  if (!title || !row) return () => {};
  row.setAttribute("sticky", "");
  const ro = new ResizeObserver(() => {
    const top = `${title.offsetHeight}px`;
    table.setAttribute("sticky-top", top);
    row.style.top = top;
  });
  ro.observe(title);
  return () => ro.disconnect();
}
