/**
 * The edge as a process of its own, for containers: the Worker in self-hosted workerd (edge/local.ts),
 * configured from the environment, its Durable Object state kept in DATA_DIR.
 */
import { z } from "zod";
import { loadConfig, port, runMain } from "@multishop/kit/config";
import { startLocalEdge } from "./local.ts";

const processEnv = z.object({
  PORT: port(8787),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATA_DIR: z.string().min(1).default("data"),
});

if (import.meta.main) {
  await runMain(async () => {
    const { PORT, HOST, DATA_DIR } = loadConfig(processEnv);
    const variables = Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([name]) => !(name in processEnv.shape)),
    );
    const edge = await startLocalEdge(variables, { port: PORT, host: HOST, persistTo: `${DATA_DIR}/edge` });
    console.log(JSON.stringify({ level: "info", service: "edge", message: "edge listening", url: edge.url }));
    const stop = () => edge.close().then(() => Deno.exit(0));
    Deno.addSignalListener("SIGTERM", stop);
    Deno.addSignalListener("SIGINT", stop);
  });
}
