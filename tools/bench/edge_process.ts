/**
 * The edge for `deno task bench:edge`, in a process of its own as in `deno task start`: its workerd child
 * does not share the bench's process, and its memory (workerd, and this process that started it) can be
 * read apart from the bench's.
 *
 *   deno run -A tools/bench/edge_process.ts '<Worker variables as JSON>'
 *
 * Prints one line of JSON, {"url": ...}, once the edge answers, and runs until SIGTERM or SIGINT.
 */
import { startLocalEdge } from "../../edge/local.ts";

if (import.meta.main) {
  const edge = await startLocalEdge(JSON.parse(Deno.args[0] ?? "{}"));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await edge.close();
    Deno.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, stop);
  console.log(JSON.stringify({ url: edge.url }));
}
