/**
 * Lists or replays the dead letters of a queue on the RabbitMQ named by AMQP_URL.
 *
 *   deno run -A services/kit/messaging/dead_letters.ts list <queue> [--limit N]
 *   deno run -A services/kit/messaging/dead_letters.ts replay <queue>
 *
 * `<queue>` is the queue a service subscribes with (`basket`, not `basket.dead`). Fix what made the
 * handler fail before replaying: a replayed message goes through the retries again, and parks again.
 */
import { parseArgs } from "node:util";
import { connectRabbitMqDeadLetters, type ParkedMessage } from "./rabbitmq_dead_letters.ts";

const usage =
  "usage: dead_letters.ts list <queue> [--limit N] | replay <queue>   (AMQP_URL names the broker)";

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { limit: { type: "string", default: "100" } },
    });
  } catch (error) {
    return fail(`${(error as Error).message}\n${usage}`, 2);
  }
  const { positionals, values } = parsed;
  const [command, queue, ...extra] = positionals;
  const limit = Number(values.limit);
  if (!["list", "replay"].includes(command) || !queue || extra.length > 0) return fail(usage, 2);
  if (!Number.isInteger(limit) || limit < 1) {
    return fail(`--limit must be a positive integer; got ${values.limit}`, 2);
  }
  const url = Deno.env.get("AMQP_URL");
  if (!url) {
    return fail("AMQP_URL is not set: export the broker's URL (`deno task infra:up` prints it)", 2);
  }

  const host = new URL(url).host;
  let admin;
  try {
    admin = await connectRabbitMqDeadLetters(url);
  } catch (error) {
    return fail(`cannot reach RabbitMQ at ${host}: ${(error as Error).message}`, 1);
  }
  try {
    if (command === "list") {
      const parked = await admin.deadLetters(queue, { limit });
      console.log(`${parked.length} dead letter(s) in ${queue}.dead, oldest first; they stay parked`);
      for (const message of parked) console.log(describe(message));
      if (parked.length === limit) console.log(`(showing the first ${limit}; --limit shows more)`);
    } else {
      console.error(`replaying the dead letters of ${queue} on ${host} ...`);
      const replayed = await admin.replayDeadLetters(queue);
      console.log(`${replayed} dead letter(s) moved back to ${queue}`);
    }
    return 0;
  } catch (error) {
    return fail((error as Error).message, 1);
  } finally {
    await admin.close();
  }
}

function describe({ envelope, body, deaths, reason, diedAt }: ParkedMessage) {
  const death = `dead ${deaths}x${reason ? ` (${reason})` : ""}${diedAt ? `, last at ${diedAt}` : ""}`;
  if (!envelope) return `- not an envelope, ${death}\n    body: ${body}`;
  const { id, type, occurredAt, correlationId, payload } = envelope;
  return `- ${id} ${type} occurred ${occurredAt}, correlation ${correlationId}, ${death}\n` +
    `    payload: ${JSON.stringify(payload)}`;
}

function fail(message: string, code: number) {
  console.error(message);
  return code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
