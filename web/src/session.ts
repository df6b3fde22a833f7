// The signed-in JWT lives in sessionStorage only: it is gone when the tab
// closes, and never in localStorage or a cookie.

const key = "landscape.jwt";

export interface TokenStore {
  get(): string | null;
  set(token: string): void;
  clear(): void;
}

export function sessionTokenStore(storage: Storage): TokenStore {
  return {
    get: () => storage.getItem(key),
    set: (t) => storage.setItem(key, t),
    clear: () => storage.removeItem(key),
  };
}

/**
 * takeFragmentToken reads a sign-in fragment (#token=<JWT>, as printed by
 * `landscape dev`), stores the token and returns the hash to show instead,
 * so the JWT does not stay in the address bar or the history. It returns
 * null when the hash holds no token.
 */
export function takeFragmentToken(hash: string, store: TokenStore): string | null {
  const m = /^#(?:.*&)?token=([^&]+)/.exec(hash);
  if (!m) return null;
  const token = decodeURIComponent(m[1]).trim();
  if (token) store.set(token);
  return "#/systems";
}
