// End-to-end harness: starts the real `landscape dev` binary, a headless
// Debian Chromium through playwright-core, and runs the tests in order.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const screenshotDir = path.join(here, "screenshots");

export const chromiumFlags = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function redisReachable(host, port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, host);
    let buf = "";
    sock.setTimeout(1000, () => {
      sock.destroy();
      resolve(false);
    });
    sock.on("error", () => resolve(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d;
      sock.destroy();
      resolve(buf.startsWith("+PONG"));
    });
  });
}

/** startLandscape runs `landscape dev` on free ports; stop() ends it. */
export async function startLandscape(bin) {
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const args = ["dev", "--http-addr", `127.0.0.1:${httpPort}`, "--grpc-addr", `127.0.0.1:${grpcPort}`, "--metrics-addr", "127.0.0.1:0", "--nats-url", ""];
  let redisPrefix = "";
  const redisURL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
  const u = new URL(redisURL);
  if (await redisReachable(u.hostname, Number(u.port || 6379))) {
    redisPrefix = `e2e-web-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
    args.push("--redis-url", redisURL, "--redis-key-prefix", redisPrefix);
  }
  const started = Date.now();
  const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let log = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (log += d));
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  const base = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`landscape dev exited early:\n${log}`);
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.status === 200 && /#token=\S+/.test(out)) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`landscape dev not healthy after 60 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const consoleURL = /(http:\/\/\S+\/#token=\S+)/.exec(out)[1];
  return {
    base,
    consoleURL,
    /** readyMs: from starting the binary until it was healthy and had printed the console URL. */
    readyMs: Date.now() - started,
    /** adminJWT: the dev admin JWT of the printed console URL. */
    adminJWT: decodeURIComponent(/#token=(\S+)/.exec(consoleURL)[1]),
    redis: redisPrefix ? redisURL : "embedded",
    log: () => log,
    /** devToken mints a JWT with the dev secret (another role or account). */
    devToken(...flags) {
      return execFileSync(bin, ["dev-token", ...flags], { encoding: "utf8" }).trim();
    },
    async stop() {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
      if (redisPrefix) {
        try {
          const keys = execFileSync("redis-cli", ["-u", redisURL, "--scan", "--pattern", `${redisPrefix}:*`], { encoding: "utf8" }).split("\n").filter(Boolean);
          for (let i = 0; i < keys.length; i += 500) execFileSync("redis-cli", ["-u", redisURL, "del", ...keys.slice(i, i + 500)]);
        } catch {
          /* redis-cli missing: the keys stay under their own prefix */
        }
      }
    },
  };
}

/**
 * startProxy forwards a loopback port to the gateway, so that a test can
 * cut every connection (drop) and refuse new ones for a while (refuse),
 * as a network failure or a restarting load balancer would. It reads what
 * passes on events:watch connections: the Last-Event-ID each watch
 * request carried and the id of every event sent to the browser.
 */
export async function startProxy(targetPort) {
  const sockets = new Set();
  let refusing = false;
  const watches = []; // { lastEventId, ids: [] } per watch request
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    let watch = null;
    let up = "";
    let down = "";
    client.on("data", (d) => {
      up += d.toString("latin1");
      // A request's head: a watch request starts reading the events sent back.
      for (let end = up.indexOf("\r\n\r\n"); end >= 0; end = up.indexOf("\r\n\r\n")) {
        const head = up.slice(0, end);
        up = up.slice(end + 4);
        if (/GET \S*events:watch/.test(head)) {
          const m = /\r\nlast-event-id: *([^\r\n]*)/i.exec(head);
          watch = { lastEventId: m ? m[1] : null, ids: [] };
          watches.push(watch);
          down = "";
        }
      }
    });
    upstream.on("data", (d) => {
      if (!watch) return;
      down += d.toString("utf8");
      const lines = down.split("\n");
      down = lines.pop();
      for (const line of lines) {
        const m = /^id: ?(.+?)\r?$/.exec(line);
        if (m) watch.ids.push(m[1]);
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    base: `http://127.0.0.1:${port}`,
    watches,
    /** drop cuts every open connection, both ways. */
    drop() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    /** refuse(true) closes each new connection at once; refuse(false) forwards again. */
    refuse(on) {
      refusing = on;
    },
    close() {
      this.drop();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  const profile = mkdtempSync(path.join(os.tmpdir(), "landscape-e2e-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: chromiumFlags,
    viewport: { width: 1440, height: 900 },
    permissions: ["clipboard-read", "clipboard-write"],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * reportEverything makes the runner say why it ends, whatever ends it: an
 * error outside a test (the setup, a rejected promise nobody awaited) or
 * a signal. Without it such an end can leave no line in a CI log.
 */
function reportEverything() {
  const fatal = (what) => (err) => {
    console.error(`e2e: ${what}: ${String(err?.stack ?? err)}`);
    process.exit(1);
  };
  process.on("uncaughtException", fatal("uncaught exception"));
  process.on("unhandledRejection", fatal("unhandled rejection"));
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
    process.on(sig, () => {
      console.error(`e2e: stopped by ${sig}`);
      process.exit(128 + { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[sig]);
    });
  }
  process.on("exit", (code) => {
    if (code !== 0) console.error(`e2e: exiting with status ${code}`);
  });
}

/** run executes the tests in order and prints "N passed, N failed[, N skipped]". */
export async function run(tests, skipped, setup) {
  reportEverything();
  console.log(`e2e: node ${process.version}, pid ${process.pid}, starting landscape dev and Chromium`);
  mkdirSync(screenshotDir, { recursive: true });
  const env = await setup();
  let passed = 0;
  let failed = 0;
  try {
    for (const [name, fn] of tests) {
      const start = Date.now();
      try {
        await fn(env);
        passed++;
        console.log(`ok   ${name} (${Date.now() - start} ms)`);
      } catch (err) {
        failed++;
        console.log(`FAIL ${name} (${Date.now() - start} ms)\n     ${String(err?.stack ?? err).split("\n").slice(0, 6).join("\n     ")}`);
        try {
          for (const p of env.browser.context.pages()) await p.screenshot({ path: path.join(screenshotDir, `FAILED-${name.replace(/\W+/g, "-")}.png`) });
        } catch {
          /* no page */
        }
      }
    }
  } finally {
    await env.teardown();
  }
  console.log(`e2e: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
  process.exitCode = failed > 0 ? 1 : 0;
}
