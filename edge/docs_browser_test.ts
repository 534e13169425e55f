/**
 * /docs in a real browser: headless Chromium (Debian's `chromium`) loads the page from the edge in workerd,
 * driven over the DevTools protocol, with every host name but the edge's unresolvable. The reference must
 * render the document's operations, log no error, and fetch nothing from anywhere but the edge. It leaves
 * a screenshot in .tools/docs-screenshot.png.
 *
 * Without Chromium the test is ignored, unless MULTISHOP_REQUIRE_INFRA=1 (CI), where it fails.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { infraRequired } from "@multishop/kit/testing";
import { scalarScriptPath } from "./src/docs.ts";
import { startEdgeFixture } from "./test_support.ts";

const screenshotFile = new URL("../.tools/docs-screenshot.png", import.meta.url);

/** An operation the page opens at (a deep link, as Scalar writes them), and its summary. */
const operationLink = "#tag/products/GET/v1/products";
const operationSummary = "Find products";

/** CHROMIUM names the browser; else `chromium` (Debian) or `chromium-browser` on PATH. */
function findChromium(): string | undefined {
  const named = Deno.env.get("CHROMIUM");
  if (named) return named;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    for (const name of ["chromium", "chromium-browser"]) {
      try {
        const info = Deno.statSync(join(dir, name));
        if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return join(dir, name);
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

const chromium = findChromium();
const missing = chromium ? undefined : "chromium is not installed (apt-get install -y chromium)";
if (missing && !infraRequired) console.log(`%cskipping the /docs browser test: ${missing}`, "color: yellow");

// deno-lint-ignore no-explicit-any
type Json = any;

/** A DevTools protocol connection: commands (to the browser, or a page's session) and their events. */
class DevTools {
  #next = 1;
  #pending = new Map<number, { resolve(result: Json): void; reject(error: Error): void }>();
  #listeners: ((method: string, params: Json, sessionId?: string) => void)[] = [];
  readonly closed: Promise<void>;

  private constructor(private socket: WebSocket) {
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.id !== undefined) {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) pending?.reject(new Error(`${message.error.message} (${message.error.code})`));
        else pending?.resolve(message.result);
      } else {
        for (const listener of this.#listeners) listener(message.method, message.params, message.sessionId);
      }
    };
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", () => {
        for (const pending of this.#pending.values()) pending.reject(new Error("DevTools connection closed"));
        this.#pending.clear();
        resolve();
      });
    });
  }

  static async connect(url: string): Promise<DevTools> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
    return new DevTools(socket);
  }

  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, method, params, sessionId }));
    });
  }

  on(listener: (method: string, params: Json, sessionId?: string) => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close();
    await this.closed;
  }
}

interface Browser {
  devtools: DevTools;
  /** What Chromium wrote to stderr, for a failure's message. */
  log(): string;
  close(): Promise<void>;
}

/** Starts headless Chromium on a profile of its own; only loopback addresses resolve. */
async function startChromium(executable: string): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "docs-chromium-" });
  const child = new Deno.Command(executable, {
    args: [
      "--headless",
      // The page is the edge's own and the network is cut; containers rarely allow Chromium's sandbox.
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      "--remote-allow-origins=*",
      // Nothing of Chromium's own (updates, sync, safe browsing, ...) goes out either.
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-default-apps",
      "--disable-extensions",
      "--no-first-run",
      "--no-default-browser-check",
      "--window-size=1280,900",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const drained = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (stderr = (stderr + chunk).slice(-8000)) }),
  ).catch(() => {});
  const exited = child.status;
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await exited;
    await drained;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  };

  try {
    // With port 0, Chromium writes the port it took and the browser's path to this file.
    const portFile = join(profile, "DevToolsActivePort");
    const deadline = Date.now() + 30_000;
    let endpoint: string | undefined;
    while (!endpoint) {
      const status = await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 100))]);
      if (status) throw new Error(`chromium exited before listening:\n${stderr}`);
      if (Date.now() > deadline) throw new Error(`chromium did not listen within 30 s:\n${stderr}`);
      const [port, path] = (await Deno.readTextFile(portFile).catch(() => "")).split("\n");
      if (port && path) endpoint = `ws://127.0.0.1:${port}${path}`;
    }
    const devtools = await DevTools.connect(endpoint);
    return {
      devtools,
      // Without the system bus of a desktop, Chromium logs its failing D-Bus calls: noise here.
      log: () => stderr.split("\n").filter((line) => !line.includes("dbus")).join("\n"),
      close: async () => {
        await devtools.send("Browser.close").catch(() => {});
        await devtools.close();
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
        await drained;
        await Deno.remove(profile, { recursive: true }).catch(() => {});
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

Deno.test({
  name: "/docs renders the reference in headless Chromium, offline, without errors",
  ignore: Boolean(missing) && !infraRequired,
}, async () => {
  if (!chromium) {
    throw new Error(`the /docs browser test is required (MULTISHOP_REQUIRE_INFRA=1) but ${missing}`);
  }
  const started = performance.now();
  const fixture = await startEdgeFixture();
  const browser = await startChromium(chromium).catch(async (error) => {
    await fixture.close();
    throw error;
  });
  const { devtools } = browser;
  const edgeOrigin = new URL(fixture.edge.url).origin;

  try {
    const { targetId } = await devtools.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await devtools.send("Target.attachToTarget", { targetId, flatten: true });
    const page = (method: string, params: Json = {}) => devtools.send(method, params, sessionId);

    const errors: string[] = [];
    const requests: string[] = [];
    const failed: string[] = [];
    let lastRequest = performance.now();
    devtools.on((method, params, from) => {
      if (from !== sessionId) return;
      if (method === "Runtime.consoleAPICalled" && (params.type === "error" || params.type === "assert")) {
        errors.push(
          `console.${params.type}: ${params.args.map((arg: Json) => arg.value ?? arg.description).join(" ")}`,
        );
      } else if (method === "Runtime.exceptionThrown") {
        const details = params.exceptionDetails;
        errors.push(`uncaught: ${details.exception?.description ?? details.text}`);
      } else if (method === "Log.entryAdded" && params.entry.level === "error") {
        // The browser's own errors: CSP violations, integrity failures, failed loads.
        errors.push(`${params.entry.source}: ${params.entry.text} ${params.entry.url ?? ""}`.trim());
      } else if (method === "Network.requestWillBeSent") {
        requests.push(params.request.url);
        lastRequest = performance.now();
      } else if (method === "Network.loadingFailed") {
        failed.push(`${params.errorText} ${params.blockedReason ?? ""}`.trim());
      }
    });
    await Promise.all(["Runtime.enable", "Log.enable", "Network.enable", "Page.enable"].map((m) => page(m)));
    await page("Emulation.setDeviceMetricsOverride", {
      width: 1280,
      height: 900,
      deviceScaleFactor: 1,
      mobile: false,
    });

    const openapi = await (await fetch(`${edgeOrigin}/openapi.json`)).json();
    const tags: string[] = openapi.tags.map((tag: { name: string }) => tag.name);
    const navigated = await page("Page.navigate", { url: `${edgeOrigin}/docs${operationLink}` });
    assert.equal(navigated.errorText, undefined, "the page loads");

    // Rendered once Scalar has read /openapi.json: a group for every tag in the sidebar, and the operation
    // the link names, open.
    const rendered = async () => {
      const { result } = await page("Runtime.evaluate", {
        expression: `(() => {
          const groups = [...document.querySelectorAll("a[href^='#tag/']")]
            .map((link) => link.getAttribute("href").slice(5))
            .filter((slug) => !slug.includes("/"));
          const operation = document.querySelector(${JSON.stringify(`[id$="${operationLink.slice(1)}"]`)});
          return { groups, operation: operation?.textContent ?? "" };
        })()`,
        returnByValue: true,
      });
      const { groups = [], operation = "" } = result.value ?? {};
      return [
        ...tags.filter((tag) => !groups.includes(tag)).map((tag) => `the ${tag} group`),
        ...(operation.includes(operationSummary) ? [] : [`"${operationSummary}" (${operationLink})`]),
      ];
    };
    const screenshot = async () => {
      const { data } = await page("Page.captureScreenshot", { format: "png" });
      await Deno.mkdir(new URL(".", screenshotFile), { recursive: true });
      await Deno.writeFile(screenshotFile, Uint8Array.fromBase64(data));
    };
    const deadline = performance.now() + 60_000;
    let notYet = await rendered();
    while (notYet.length > 0) {
      // An error (a blocked script, say) fails at once rather than at the deadline.
      if (performance.now() > deadline || errors.length > 0) {
        await screenshot();
        assert.fail(
          `the reference did not render ${notYet.join(", ")}${errors.length > 0 ? "" : " within 60 s"} ` +
            `(screenshot: ${screenshotFile.pathname})\nerrors: ${errors.join("\n")}\n` +
            `requests: ${requests.join("\n")}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      notYet = await rendered();
    }
    // Then until nothing more is fetched for a second, so that late errors and requests are seen too.
    while (performance.now() - lastRequest < 1_000 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await screenshot();
    console.log(
      `/docs rendered ${tags.length} groups and "${operationSummary}" in Chromium ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s after the test started ` +
        `(${requests.length} requests); screenshot: ${screenshotFile.pathname}`,
    );

    assert.deepEqual(errors, [], "no console error");
    assert.deepEqual(failed, [], "no request failed or was blocked");
    const elsewhere = requests.filter((url) => {
      const { protocol, origin } = new URL(url);
      return origin !== edgeOrigin && protocol !== "data:" && protocol !== "blob:";
    });
    assert.deepEqual(elsewhere, [], "no request left the machine: everything came from the edge");
    for (const path of ["/docs", scalarScriptPath, "/openapi.json"]) {
      assert.ok(requests.includes(`${edgeOrigin}${path}`), `the page fetched ${path}`);
    }
    assert.equal(fixture.upstreams.flatMap((upstream) => upstream.seen).length, 0, "no service was called");
  } catch (error) {
    console.error(`chromium's stderr:\n${browser.log()}`);
    throw error;
  } finally {
    await browser.close();
    await fixture.close();
  }
});
