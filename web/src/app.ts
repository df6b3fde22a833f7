// The console: sign-in, the shell (shell bar, side navigation, live
// indicator, toast) and the route → page switch.
import "./ui5";

import { Api, ApiError, type FormationType, type Me, type SystemType } from "./api";
import { rolesCanWrite, type Ctx, type View } from "./context";
import { h, replace } from "./dom";
import { messageFor } from "./errors";
import { Live, type LiveState } from "./live";
import { href, parseRoute, section, type Route } from "./router";
import { sessionTokenStore } from "./session";
import { systemsPage } from "./pages/systems";

const root = document.getElementById("app")!;
const store = sessionTokenStore(window.sessionStorage);

let onUnauthenticated = (): void => {};
// stopShell ends the shell's live connection, page and route listener.
let stopShell = (): void => {};
const api = new Api(
  () => store.get(),
  async (input, init) => {
    const res = await fetch(input, init);
    if (res.status === 401) onUnauthenticated();
    return res;
  },
);

type PageLoader = (ctx: Ctx, route: Route) => Promise<View>;
const pages: Record<Route["page"], PageLoader> = {
  systems: async (ctx) => systemsPage(ctx),
  "register-system": async (ctx) => (await import("./pages/registerSystem")).registerSystemPage(ctx),
  system: async (ctx, r) => (await import("./pages/systemDetails")).systemDetailsPage(ctx, (r as { id: string }).id),
  formations: async (ctx) => (await import("./pages/formations")).formationsPage(ctx),
  "create-formation": async (ctx) => (await import("./pages/createFormation")).createFormationPage(ctx),
  formation: async (ctx, r) => (await import("./pages/formationDetails")).formationDetailsPage(ctx, (r as { id: string }).id),
  activity: async (ctx, r) => (await import("./pages/activity")).activityPage(ctx, (r as { subject?: string }).subject),
};

/** boot starts the console; early is the answer of a /v1/me call made while the components loaded. */
export function boot(early?: Promise<Response>): void {
  void start(early);
}

async function start(early?: Promise<Response>): Promise<void> {
  replace(root, h("ui5-busy-indicator", { active: true, size: "L", class: "boot", "aria-label": "Loading" }));
  let me: Me;
  try {
    me = early ? await api.read<Me>(early) : await api.me();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signIn();
    if (err instanceof ApiError && err.status === 403) return forbidden(err);
    return bootError(err);
  }
  shell(me);
}

function signIn(problem?: string): void {
  onUnauthenticated = () => {};
  stopShell();
  stopShell = () => {};
  const textarea = h("ui5-textarea", { id: "token", rows: 5, placeholder: "eyJhbGciOi…", "accessible-name": "JWT", growing: true });
  const msg = h("div", { class: "messages" });
  if (problem) replace(msg, h("ui5-message-strip", { design: "Negative", "hide-close-button": true }, problem));
  const submit = async (): Promise<void> => {
    const t = ((textarea as unknown as { value: string }).value ?? "").trim().replace(/^Bearer\s+/i, "");
    if (!t) {
      replace(msg, h("ui5-message-strip", { design: "Negative", "hide-close-button": true }, "Paste a JWT first."));
      return;
    }
    store.set(t);
    void start();
  };
  replace(
    root,
    h(
      "main",
      { class: "signin" },
      h(
        "section",
        { class: "signin-card", "aria-labelledby": "signin-title" },
        h("ui5-title", { level: "H2", size: "H3", id: "signin-title" }, "Sign in to Landscape"),
        h(
          "p",
          null,
          "Paste a JWT for your global account. ",
          h("code", null, "landscape dev"),
          " prints a console link that signs you in, and ",
          h("code", null, "landscape dev-token"),
          " mints one. The token stays in this browser tab only.",
        ),
        msg,
        h("ui5-label", { for: "token", required: true, "show-colon": true }, "JWT"),
        textarea,
        h("div", { class: "signin-actions" }, h("ui5-button", { design: "Emphasized", onclick: () => void submit() }, "Sign in")),
      ),
    ),
  );
  document.title = "Sign in – Landscape";
  if (store.get()) {
    store.clear();
    if (!problem) replace(msg, h("ui5-message-strip", { design: "Warning", "hide-close-button": true }, "Your sign-in was refused or has expired. Sign in again."));
  }
}

// forbidden is the page for a valid JWT the API refuses (no role Landscape
// knows in it): what is refused and what would help, not a sign-in form.
async function forbidden(err: ApiError): Promise<void> {
  onUnauthenticated = () => {};
  stopShell();
  stopShell = () => {};
  const { forbiddenView } = await import("./pages/forbidden");
  const another = (): void => {
    store.clear();
    signIn();
  };
  replace(
    root,
    h(
      "main",
      { class: "signin" },
      forbiddenView(
        {
          title: "You may not use Landscape with this sign-in",
          text:
            "Your JWT is valid, but it holds no role Landscape knows. Ask your global account's administrator for global-account-admin, " +
            "system-landscape-admin or system-landscape-viewer, then sign in again." +
            (/known role/.test(err.message) ? "" : ` (The server said: ${err.message})`),
          design: "Scene",
        },
        h("ui5-button", { design: "Emphasized", onclick: another }, "Sign in with another token"),
      ),
    ),
  );
  document.title = "Not allowed – Landscape";
}

function bootError(err: unknown): void {
  const m = messageFor(err);
  replace(
    root,
    h(
      "main",
      { class: "signin" },
      h(
        "ui5-illustrated-message",
        { name: "UnableToLoad", "title-text": "The console cannot start", "subtitle-text": `${m.text}${m.detail && m.detail !== m.text ? ` (${m.detail})` : ""}` },
        h("ui5-button", { design: "Emphasized", onclick: () => void start() }, "Try again"),
      ),
    ),
  );
}

function cached<T>(load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= load().catch((err) => {
      p = undefined;
      throw err;
    });
    return p;
  };
}

function shell(me: Me): void {
  const ga = me.globalAccount;
  const live = new Live({ url: `/v1/globalAccounts/${ga}/events:watch`, headers: () => api.headers() });
  const toast = h("ui5-toast", { placement: "BottomCenter", duration: 3000 });
  const ctx: Ctx = {
    api,
    me,
    ga,
    canWrite: rolesCanWrite(me.roles),
    live,
    toast(text) {
      toast.textContent = text;
      (toast as unknown as { open: boolean }).open = true;
    },
    go(r) {
      location.hash = href(r);
    },
    systemTypes: cached(async (): Promise<SystemType[]> => (await api.systemTypes()).systemTypes ?? []),
    formationTypes: cached(async (): Promise<FormationType[]> => (await api.formationTypes()).formationTypes ?? []),
  };

  const liveTag = h("ui5-tag", { slot: "content", id: "live-indicator", design: "Neutral", "aria-live": "polite" }, "Connecting…");
  live.onState((s: LiveState, why?: string) => {
    liveTag.setAttribute("design", s === "live" ? "Positive" : s === "connecting" ? "Neutral" : "Critical");
    liveTag.setAttribute("data-live", s);
    liveTag.textContent = s === "live" ? "Live" : s === "connecting" ? "Connecting…" : "Live updates off";
    liveTag.setAttribute("title", s === "off" ? `Live updates are off: ${why ?? "no connection"}. Retrying; reload a page to see changes meanwhile.` : s === "live" ? "Pages update as changes happen." : "Connecting to live updates…");
  });

  const initials = me.subject.replace(/[^A-Za-z0-9]/g, "").slice(0, 2).toUpperCase() || "?";
  const profile = h("ui5-avatar", { slot: "profile", initials, "accessible-name": `Signed in as ${me.subject}` });
  const signOutItem = h("ui5-shellbar-item", { icon: "log", text: "Sign out", "data-action": "sign-out" });
  const shellbar = h(
    "ui5-shellbar",
    {
      slot: "header",
      "primary-title": "Landscape",
      "secondary-title": `${me.subject} · global account ${ga}`,
    },
    liveTag,
    signOutItem,
    profile,
  );
  const signOut = (): void => {
    store.clear();
    signIn();
    replace(
      root.querySelector(".messages") ?? root,
      h("ui5-message-strip", { design: "Information", "hide-close-button": true }, "You are signed out."),
    );
  };
  signOutItem.addEventListener("click", signOut);

  const roles = (me.roles ?? []).join(", ") || "none";
  const popover = h(
    "ui5-popover",
    { "header-text": me.subject, placement: "Bottom", "accessible-name": "Your account" },
    h(
      "div",
      { class: "profile" },
      h("div", null, h("ui5-label", { "show-colon": true }, "Global account"), " ", ga),
      h("div", null, h("ui5-label", { "show-colon": true }, "Roles"), " ", roles),
      me.expireTime ? h("div", null, h("ui5-label", { "show-colon": true }, "Signed in until"), " ", new Date(me.expireTime).toLocaleString()) : null,
      h("ui5-button", { design: "Transparent", icon: "log", onclick: signOut }, "Sign out"),
    ),
  );
  shellbar.addEventListener("profile-click", (e: Event) => {
    const p = popover as unknown as { opener: HTMLElement; open: boolean };
    p.opener = (e as CustomEvent<{ targetRef: HTMLElement }>).detail.targetRef;
    p.open = true;
  });

  const navItems: Record<string, HTMLElement> = {
    systems: h("ui5-side-navigation-item", { text: "Systems", icon: "it-host", href: "#/systems" }),
    formations: h("ui5-side-navigation-item", { text: "Formations", icon: "group", href: "#/formations" }),
    activity: h("ui5-side-navigation-item", { text: "Activity", icon: "activities", href: "#/activity" }),
  };
  const sidenav = h("ui5-side-navigation", { slot: "sideContent", "accessible-name": "Navigation" }, ...Object.values(navItems));
  const content = h("main", { class: "content", id: "content" });
  replace(root, h("ui5-navigation-layout", { class: "layout" }, shellbar, sidenav, content), toast, popover);

  onUnauthenticated = () => signIn();

  let current: View | undefined;
  let seq = 0;
  const render = async (): Promise<void> => {
    const route = parseRoute(location.hash);
    const n = ++seq;
    for (const [k, item] of Object.entries(navItems)) {
      if (k === section(route)) item.setAttribute("selected", "");
      else item.removeAttribute("selected");
    }
    current?.dispose?.();
    current = undefined;
    let view: View;
    try {
      view = await pages[route.page](ctx, route);
    } catch (err) {
      view = { el: h("div", { class: "page-error" }, h("ui5-message-strip", { design: "Negative", "hide-close-button": true }, messageFor(err).text)), title: "Error" };
    }
    if (n !== seq) {
      view.dispose?.();
      return;
    }
    current = view;
    document.title = `${view.title} – Landscape`;
    replace(content, view.el);
  };
  const onHash = (): void => void render();
  window.addEventListener("hashchange", onHash);
  stopShell = () => {
    window.removeEventListener("hashchange", onHash);
    seq++;
    current?.dispose?.();
    current = undefined;
    live.stop();
    window.removeEventListener("online", retryLive);
    document.removeEventListener("visibilitychange", onVisible);
    popover.remove();
    toast.remove();
  };
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/systems");
  const retryLive = (): void => live.retryNow();
  const onVisible = (): void => {
    if (document.visibilityState === "visible") live.retryNow();
  };
  window.addEventListener("online", retryLive);
  document.addEventListener("visibilitychange", onVisible);
  live.start();
  void render();
}

