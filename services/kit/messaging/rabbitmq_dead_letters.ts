/**
 * Operator access to RabbitMQ's dead letters: the messages a consumer could not handle, which the
 * adapter parks in `<queue>.dead`. Listing leaves them parked. Replaying moves them back to `<queue>`
 * itself through the default exchange, not to the events exchange: there the routing key would
 * reach every service bound to the event again, when only this consumer failed.
 */
import { type ConfirmChannel, connect, type GetMessage } from "amqplib";
import { parseEnvelope } from "./envelope.ts";
import { sendConfirmed } from "./rabbitmq.ts";
import { retriesHeader } from "./retry.ts";
import type { Envelope } from "./types.ts";

export interface ParkedMessage {
  /** The body, as text. */
  body: string;
  /** Undefined when the body is not an envelope: unreadable messages are parked too. */
  envelope?: Envelope;
  /** How often the message was dead-lettered from this queue, replays included. */
  deaths: number;
  /** RabbitMQ's word for the last death: `rejected` when the handler failed every retry. */
  reason?: string;
  /** When it was dead-lettered last, to the second. */
  diedAt?: string;
}

export interface RabbitMqDeadLetters {
  /** The parked messages of `queue`, oldest first, at most `limit` (default 100); they stay parked. */
  deadLetters(queue: string, options?: { limit?: number }): Promise<ParkedMessage[]>;
  /**
   * Moves the messages parked when the replay starts back to `queue`, each removed from the dead
   * letters only once the broker confirmed it in `queue`; returns how many. Messages that die again
   * meanwhile stay parked for the next replay.
   */
  replayDeadLetters(queue: string): Promise<number>;
  close(): Promise<void>;
}

/** A connection of its own, for an operator's tool or an admin endpoint. */
export async function connectRabbitMqDeadLetters(url: string): Promise<RabbitMqDeadLetters> {
  const model = await connect(url, { timeout: 5000, noDelay: true });
  // amqplib throws an error event nobody listens to when a channel fails; the caller sees the rejection.
  model.on("error", () => {});

  /**
   * A channel of its own for each call, since asking for a missing queue closes the channel; the
   * queue and its dead letters are checked first, for an error that says what to do.
   */
  async function withQueue<T>(queue: string, use: (channel: ConfirmChannel) => Promise<T>): Promise<T> {
    const channel = await model.createConfirmChannel();
    channel.on("error", () => {});
    try {
      for (const name of [queue, `${queue}.dead`]) {
        await channel.checkQueue(name).catch((error) => {
          throw new Error(
            `RabbitMQ has no queue ${name}: name a queue a service subscribes with (${error.message})`,
          );
        });
      }
      return await use(channel);
    } finally {
      await channel.close().catch(() => {});
    }
  }

  return {
    deadLetters: (queue, { limit = 100 } = {}) =>
      withQueue(queue, async (channel) => {
        const parked: ParkedMessage[] = [];
        for (let message; parked.length < limit && (message = await channel.get(`${queue}.dead`));) {
          parked.push(describe(message, queue));
        }
        // Unacknowledged, they return to their places in the queue when the channel closes.
        return parked;
      }),

    replayDeadLetters: (queue) =>
      withQueue(queue, async (channel) => {
        const { messageCount } = await channel.checkQueue(`${queue}.dead`);
        let replayed = 0;
        for (let message; replayed < messageCount && (message = await channel.get(`${queue}.dead`));) {
          // A replayed message gets every retry again.
          await sendConfirmed(channel, queue, message, { [retriesHeader]: 0 });
          channel.ack(message);
          replayed++;
        }
        return replayed;
      }),

    close: () => model.close(),
  };
}

function describe(message: GetMessage, queue: string): ParkedMessage {
  const body = message.content.toString("utf8");
  let envelope: Envelope | undefined;
  try {
    envelope = parseEnvelope(body);
  } catch {
    // Not an envelope: the body is all there is to show.
  }
  // RabbitMQ keeps one record per queue and reason, the latest first.
  const deaths = (message.properties.headers?.["x-death"] ?? []).filter((death) => death.queue === queue);
  const [latest] = deaths;
  return {
    body,
    ...(envelope && { envelope }),
    deaths: deaths.reduce((sum, death) => sum + Number(death.count), 0),
    ...(latest && {
      reason: latest.reason,
      diedAt: new Date(latest.time.value * 1000).toISOString(),
    }),
  };
}
