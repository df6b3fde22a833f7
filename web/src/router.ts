// Hash routes: the console is one HTML page, so a deep link or a reload
// never asks the server for anything but / and the built files.

export type Route =
  | { page: "systems" }
  | { page: "register-system" }
  | { page: "system"; id: string }
  | { page: "formations" }
  | { page: "create-formation" }
  | { page: "formation"; id: string }
  | { page: "activity"; subject?: string };

export function parseRoute(hash: string): Route {
  const [path, q = ""] = hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(q);
  switch (parts[0]) {
    case "systems":
      if (parts[1] === "new") return { page: "register-system" };
      if (parts[1]) return { page: "system", id: parts[1] };
      return { page: "systems" };
    case "formations":
      if (parts[1] === "new") return { page: "create-formation" };
      if (parts[1]) return { page: "formation", id: parts[1] };
      return { page: "formations" };
    case "activity":
      return { page: "activity", subject: params.get("subject") ?? undefined };
    default:
      return { page: "systems" };
  }
}

export function href(r: Route): string {
  switch (r.page) {
    case "systems":
      return "#/systems";
    case "register-system":
      return "#/systems/new";
    case "system":
      return `#/systems/${encodeURIComponent(r.id)}`;
    case "formations":
      return "#/formations";
    case "create-formation":
      return "#/formations/new";
    case "formation":
      return `#/formations/${encodeURIComponent(r.id)}`;
    case "activity":
      return r.subject ? `#/activity?subject=${encodeURIComponent(r.subject)}` : "#/activity";
  }
}

/** The navigation entry a route belongs to. */
export function section(r: Route): "systems" | "formations" | "activity" {
  if (r.page === "activity") return "activity";
  if (r.page === "formations" || r.page === "create-formation" || r.page === "formation") return "formations";
  return "systems";
}
