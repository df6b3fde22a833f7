// The console's entry, kept small: it takes a sign-in fragment, asks the
// API who is calling and, meanwhile, loads the components and pages.
import "./fonts.css";
import "./styles.css";

import { sessionTokenStore, takeFragmentToken } from "./session";

const store = sessionTokenStore(window.sessionStorage);

// A sign-in fragment (#token=…) is stored and removed from the address bar.
const replaced = takeFragmentToken(location.hash, store);
if (replaced) history.replaceState(null, "", location.pathname + location.search + replaced);

const token = store.get();
const early = fetch("/v1/me", { headers: token ? { Accept: "application/json", Authorization: `Bearer ${token}` } : { Accept: "application/json" } });
// A failed early call is read (and reported) by the app.
early.catch(() => undefined);

void import("./app").then((app) => app.boot(early));
