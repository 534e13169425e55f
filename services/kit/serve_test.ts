import assert from "node:assert/strict";

Deno.test("SIGTERM: ends event streams, finishes the in-flight request, stops accepting, then closes pools", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./testdata/slow_service.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const chunks = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const seen: Record<string, unknown>[] = [];
  let buffered = "";
  const nextLine = async (): Promise<Record<string, unknown> | undefined> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await chunks.read();
      if (done) return undefined;
      buffered += value;
    }
    const end = buffered.indexOf("\n");
    const line = JSON.parse(buffered.slice(0, end));
    buffered = buffered.slice(end + 1);
    seen.push(line);
    return line;
  };
  const { listening } = (await nextLine()) as { listening: string };

  const stream = await fetch(`${listening}/stream`);
  const inFlight = fetch(`${listening}/slow`);
  // Signal only once the child is inside the handler: a fixed wait can end before a starved child reads the request.
  for (let line = await nextLine(); line?.started !== "slow"; line = await nextLine()) {
    assert.ok(line, "the child exited before the slow request arrived");
  }
  child.kill("SIGTERM");
  const response = await inFlight;
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { finished: true });
  // The stream never ends on its own: only shutting down ends it.
  assert.match(await stream.text(), /data: tick/);

  await assert.rejects(fetch(`${listening}/health/live`), "no new connections after the signal");
  while (await nextLine());
  const status = await child.status;
  assert.equal(status.code, 0);
  const messages = seen.map((line) => line.message ?? line.closed);
  const slowRequest = messages.indexOf("request");
  assert.ok(slowRequest >= 0, "the slow request was logged as finished");
  assert.ok(messages.indexOf("pool") > slowRequest, "the pool closed after the request finished");
  assert.equal(messages.at(-1), "shut down cleanly");
});
