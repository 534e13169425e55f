/** A service with one slow route and one endless event stream, run as a child process by the graceful-shutdown test. */
import { streamSSE } from "hono/streaming";
import { createApp } from "../app.ts";
import { createLogger } from "../log.ts";
import { serveApp, shutdownOnSignal, shuttingDown } from "../serve.ts";

const logger = createLogger("slow", "info");
const app = createApp({ title: "Slow", version: "0", logger, bodyLimitBytes: 1024 });
app.get("/slow", async (c) => {
  // Tells the test the request has arrived, so its SIGTERM lands while the request is in flight.
  console.log(JSON.stringify({ started: "slow" }));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return c.json({ finished: true });
});
app.get("/stream", (c) =>
  streamSSE(c, async (stream) => {
    while (!stream.aborted && !shuttingDown.aborted) {
      await stream.writeSSE({ data: "tick" });
      await stream.sleep(100);
    }
  }));
const server = serveApp(app, { hostname: "127.0.0.1", port: 0 });
console.log(JSON.stringify({ listening: server.url }));
await shutdownOnSignal({
  servers: [server],
  closers: [() => console.log(JSON.stringify({ closed: "pool" }))],
  logger,
  timeoutMs: 10_000,
});
