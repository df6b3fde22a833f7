// Live updates: the global account's events over HTTP (events:watch, a
// server-sent event stream). EventSource cannot send an Authorization
// header, so the stream is read with fetch; after a drop it resumes with
// Last-Event-ID, so no event is missed or repeated.

export interface SSEMessage {
  id?: string;
  event?: string;
  data: string;
}

/** SSEParser turns chunks of a text/event-stream into messages. */
export class SSEParser {
  private buf = "";
  private data: string[] = [];
  private id: string | undefined;
  private event: string | undefined;

  push(chunk: string): SSEMessage[] {
    this.buf += chunk;
    const out: SSEMessage[] = [];
    for (;;) {
      const nl = this.buf.search(/\r\n|\r|\n/);
      if (nl < 0) break;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + (this.buf.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        if (this.data.length > 0) out.push({ id: this.id, event: this.event, data: this.data.join("\n") });
        this.data = [];
        this.event = undefined;
        this.id = undefined;
        continue;
      }
      if (line.startsWith(":")) continue; // a comment: keep-alive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") this.data.push(value);
      else if (field === "id") this.id = value;
      else if (field === "event") this.event = value;
    }
    return out;
  }
}

/** A CloudEvent as events:watch sends it (the fields the console reads). */
export interface LiveEvent {
  id: string;
  type: string;
  subject: string;
  time?: string;
  actor?: string;
  /** causedby: the id of the event this change reacted to. */
  causedby?: string;
  data?: Record<string, unknown>;
}

export type LiveState = "connecting" | "live" | "off";

export interface LiveOptions {
  url: string;
  headers: () => Record<string, string>;
  fetchFn?: typeof fetch;
  /** Delays between reconnects, in ms; the last one repeats. */
  backoff?: number[];
}

/** Live keeps one watch open, reconnecting with Last-Event-ID after a drop. */
export class Live {
  private listeners = new Set<(e: LiveEvent) => void>();
  private stateListeners = new Set<(s: LiveState, why?: string) => void>();
  private lastId: string | undefined;
  private abort: AbortController | undefined;
  private stopped = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  state: LiveState = "off";
  why: string | undefined;

  constructor(private readonly opts: LiveOptions) {}

  subscribe(fn: (e: LiveEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onState(fn: (s: LiveState, why?: string) => void): () => void {
    this.stateListeners.add(fn);
    fn(this.state, this.why);
    return () => this.stateListeners.delete(fn);
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  /**
   * retryNow reconnects at once when live updates are off (the browser
   * came back online, or the tab became visible) instead of waiting for
   * the next retry, which may be up to 30 s away.
   */
  retryNow(): void {
    if (this.stopped || this.state !== "off" || this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.attempt = 0;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort?.abort();
    this.setState("off", "stopped");
  }

  private setState(s: LiveState, why?: string): void {
    this.state = s;
    this.why = why;
    for (const fn of this.stateListeners) fn(s, why);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.abort = new AbortController();
    this.setState("connecting");
    const headers: Record<string, string> = { Accept: "text/event-stream", ...this.opts.headers() };
    if (this.lastId) headers["Last-Event-ID"] = this.lastId;
    let why = "the connection closed";
    try {
      const res = await (this.opts.fetchFn ?? fetch)(this.opts.url, { headers, signal: this.abort.signal, cache: "no-store" });
      if (res.status === 410 || res.status === 400) {
        // The cursor is past retention: start again from now.
        this.lastId = undefined;
        why = "resuming was not possible";
      } else if (!res.ok || !res.body) {
        why = res.status === 404 ? "the server does not offer live updates" : `the server answered ${res.status}`;
      } else {
        this.attempt = 0;
        this.setState("live");
        const parser = new SSEParser();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const m of parser.push(value)) this.dispatch(m);
        }
      }
    } catch (err) {
      if (this.stopped) return;
      why = "the connection dropped";
      void err;
    }
    if (this.stopped) return;
    this.setState("off", why);
    const backoff = this.opts.backoff ?? [500, 1000, 2000, 5000, 10000, 30000];
    const delay = backoff[Math.min(this.attempt, backoff.length - 1)];
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, delay);
  }

  private dispatch(m: SSEMessage): void {
    if (m.id) this.lastId = m.id;
    let e: LiveEvent;
    try {
      e = JSON.parse(m.data) as LiveEvent;
    } catch {
      return;
    }
    for (const fn of this.listeners) fn(e);
  }
}

/**
 * systemOfSubject names the system an event is about: the subject itself
 * for system events, the system of an assignment, or nothing.
 * Assignment subjects are globalAccounts/{ga}/formations/{f}/assignments/{system id}.
 */
export function systemOfSubject(subject: string): string | undefined {
  const m = /^globalAccounts\/([^/]+)\/(?:systems\/([^/]+)|formations\/[^/]+\/assignments\/([^/]+))(?:\/.*)?$/.exec(subject);
  if (!m) return undefined;
  return `globalAccounts/${m[1]}/systems/${m[2] ?? m[3]}`;
}

/** formationOfSubject names the formation an event is about, if any. */
export function formationOfSubject(subject: string): string | undefined {
  const m = /^(globalAccounts\/[^/]+\/formations\/[^/]+)(?:\/.*)?$/.exec(subject);
  return m ? m[1] : undefined;
}
