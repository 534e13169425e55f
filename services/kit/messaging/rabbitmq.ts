/**
 * The RabbitMQ adapter. One durable topic exchange, routing key = event type; one durable queue per
 * consuming service, dead-lettering to `<queue>.dead` through the direct exchange `<exchange>.dead`.
 * Publishes are persistent and resolve on the broker's confirm. amqplib's connection recovery
 * reconnects with backoff and reruns `setUp`, which re-declares the topology and re-subscribes, so
 * the services ride out a broker restart without help.
 */
import { Buffer } from "node:buffer";
import {
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  connect,
  type ConsumeMessage,
  type Message,
} from "amqplib";
import type { z } from "zod";
import { describeError, type Logger } from "../log.ts";
import { inSpan } from "../trace_context.ts";
import { createEnvelope, parseEnvelope, validatePayload } from "./envelope.ts";
import { defaultRetryDelaysMs, retriesHeader } from "./retry.ts";
import type { Envelope, Handler, MessageBus, PublishOptions } from "./types.ts";

export interface RabbitMqOptions {
  logger: Logger;
  /** The topic exchange events go to; dead letters go to `<exchange>.dead`. */
  exchange?: string;
  /** Unacknowledged messages a subscription holds at once. */
  prefetch?: number;
  /** How long a failed message waits in a delay queue before each retry; after the last, it is dead. */
  retryDelaysMs?: readonly number[];
  /** Reconnect backoff: the first wait, doubling up to `max`. */
  reconnectDelayMs?: { initial: number; max: number };
  /** Tries at the first connection before giving up; a later outage is retried without end. */
  connectAttempts?: number;
  /** Put before every queue's name, so that runs sharing a broker (end-to-end tests) keep to their own queues. */
  queuePrefix?: string;
}

/** The broker cannot take the request now (not connected, blocked, closed, or it refused the message). */
export class MessagingUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MessagingUnavailableError";
  }
}

interface Subscription {
  queue: string;
  patterns: string[];
  handler: Handler;
}

/** A black-holed broker address fails the connection attempt after this long instead of hanging it. */
const socketConnectTimeoutMs = 5000;

export async function connectRabbitMq(url: string, {
  logger,
  exchange = "multishop.events",
  prefetch = 16,
  retryDelaysMs = defaultRetryDelaysMs,
  reconnectDelayMs = { initial: 500, max: 30_000 },
  connectAttempts = 5,
  queuePrefix = "",
}: RabbitMqOptions): Promise<MessageBus> {
  const broker = redact(url);
  const subscriptions: Subscription[] = [];
  const handling = new Set<Promise<void>>();
  const openChannels = new Set<Channel>();
  const closing = new AbortController();
  let live: { model: ChannelModel; publisher: ConfirmChannel } | undefined;
  let blockedBecause: string | undefined;
  let lastProblem = "not connected yet";

  /** Runs on every (re)connection, before the connection counts as up; a failure means another try. */
  async function setUp(model: ChannelModel) {
    const publisher = await model.createConfirmChannel();
    const putInService = watchChannel(model, publisher, "publisher");
    await publisher.assertExchange(exchange, "topic", { durable: true });
    putInService();
    for (const subscription of subscriptions) await consume(model, subscription);
    live = { model, publisher };
    blockedBecause = undefined;
    logger.info("RabbitMQ connected", { broker, exchange, subscriptions: subscriptions.length });
  }

  /**
   * Keeps the channel in `openChannels` while it is open, logs its errors (amqplib throws an error
   * event nobody listens to) and, once the channel is in service, rebuilds the connection when the
   * broker closes the channel: a dead channel on a live connection would go unnoticed, and the
   * rebuild re-declares what was lost.
   */
  function watchChannel(model: ChannelModel, channel: Channel, role: string): () => void {
    let inService = false;
    openChannels.add(channel);
    channel.on("close", () => openChannels.delete(channel));
    channel.on("error", (error: Error) => {
      logger.warn("RabbitMQ closed a channel", { role, ...describeError(error) });
      if (inService) rebuild(model, `the ${role} channel closed`);
    });
    return () => {
      inService = true;
    };
  }

  function rebuild(model: ChannelModel, reason: string) {
    if (closing.signal.aborted) return;
    logger.warn("RabbitMQ reconnecting", { reason });
    // Closing the connection hands it to amqplib's recovery; if it is already gone, so much the better.
    model.close().catch(() => {});
  }

  async function consume(model: ChannelModel, subscription: Subscription) {
    const channel = await model.createChannel();
    const putInService = watchChannel(model, channel, `consumer of ${subscription.queue}`);
    try {
      await channel.prefetch(prefetch);
      await declareQueue(channel, exchange, subscription, retryDelaysMs);
      await channel.consume(subscription.queue, (message) => {
        if (message === null) {
          return rebuild(model, `the broker cancelled the consumer of ${subscription.queue}`);
        }
        // While closing, a message is left unacknowledged: the broker requeues it when the channel closes.
        if (closing.signal.aborted) return;
        track(handleDelivery(channel, subscription, message));
      });
    } catch (error) {
      await channel.close().catch(() => {});
      throw error;
    }
    putInService();
  }

  function track(work: Promise<void>) {
    handling.add(work);
    work.finally(() => handling.delete(work));
  }

  /**
   * Runs the handler once. A failure is retried by the broker, not here: the message is published
   * to the delay queue of its next retry, whose TTL hands it back to this queue, and acknowledged,
   * so the consumer goes on with other messages meanwhile. Once every retry failed, it is dead.
   */
  async function handleDelivery(channel: Channel, { queue, handler }: Subscription, message: ConsumeMessage) {
    let envelope: Envelope;
    try {
      envelope = parseEnvelope(message.content);
    } catch (error) {
      logger.error("unreadable message dead-lettered", {
        queue,
        messageId: message.properties.messageId,
        ...describeError(error),
      });
      return settle(queue, () => channel.nack(message, false, false));
    }
    const retries = Number(message.properties.headers?.[retriesHeader] ?? 0);
    const fields = { queue, messageId: envelope.id, type: envelope.type, attempt: retries + 1 };
    try {
      await inSpan(envelope.traceparent, () => handler(envelope));
      return settle(queue, () => channel.ack(message));
    } catch (error) {
      // While closing, the message is left unacknowledged: the broker requeues it when the channel closes.
      if (closing.signal.aborted) return;
      const delayMs = retryDelaysMs[retries];
      if (delayMs === undefined) {
        logger.error("message handler failed every retry; message dead-lettered", {
          ...fields,
          ...describeError(error),
        });
        return settle(queue, () => channel.nack(message, false, false));
      }
      logger.warn("message handler failed; retrying", {
        ...fields,
        retryInMs: delayMs,
        ...describeError(error),
      });
      try {
        await sendConfirmed(
          connected("schedule a retry").publisher,
          retryQueueName(queue, delayMs),
          message,
          {
            [retriesHeader]: retries + 1,
          },
        );
        settle(queue, () => channel.ack(message));
      } catch (publishError) {
        // Not scheduled: back to the queue as it was, to be tried again at once.
        logger.warn("could not schedule a retry; requeued", { ...fields, ...describeError(publishError) });
        settle(queue, () => channel.nack(message, false, true));
      }
    }
  }

  /** Acks or nacks; when the connection went meanwhile, the broker redelivers the message anyway. */
  function settle(queue: string, acknowledge: () => void) {
    try {
      acknowledge();
    } catch (error) {
      logger.warn("could not acknowledge a message; the broker will redeliver it", {
        queue,
        ...describeError(error),
      });
    }
  }

  function connected(action: string) {
    if (closing.signal.aborted) {
      throw new MessagingUnavailableError(`cannot ${action}: the RabbitMQ bus is closed`);
    }
    if (!live) {
      throw new MessagingUnavailableError(
        `cannot ${action}: RabbitMQ at ${broker} is not connected (${lastProblem}); reconnecting in the background`,
      );
    }
    return live;
  }

  function unblocked(action: string) {
    const current = connected(action);
    if (blockedBecause) {
      throw new MessagingUnavailableError(`cannot ${action}: RabbitMQ blocks publishing (${blockedBecause})`);
    }
    return current;
  }

  const connection = await connect(url, {
    timeout: socketConnectTimeoutMs,
    // amqplib writes a publish as several frames; with Nagle's algorithm on, each waited for the
    // broker's delayed ACK, about 40 ms per message.
    noDelay: true,
    recovery: {
      initialDelay: reconnectDelayMs.initial,
      maxDelay: reconnectDelayMs.max,
      initialMaxRetries: connectAttempts - 1,
      // Listeners first, then the first attempt, so its failures are logged too.
      waitForConnect: false,
      setup: (model: ChannelModel) => setUp(model),
    },
  });
  connection.on("disconnect", (error) => {
    live = undefined;
    lastProblem = error.message;
    logger.warn("RabbitMQ connection lost", { broker, ...describeError(error) });
  });
  connection.on("reconnect-scheduled", ({ attempt, delay, error }) => {
    lastProblem = error.message;
    logger.warn("RabbitMQ unreachable; retrying", {
      broker,
      attempt,
      retryInMs: delay,
      error: error.message,
    });
  });
  connection.on("blocked", (reason) => {
    blockedBecause = reason;
    logger.warn("RabbitMQ blocks publishing", { broker, reason });
  });
  connection.on("unblocked", () => {
    blockedBecause = undefined;
    logger.info("RabbitMQ unblocked publishing", { broker });
  });
  connection.on(
    "error",
    (error) => logger.error("RabbitMQ connection error", { broker, ...describeError(error) }),
  );
  try {
    await connection.waitForConnect();
  } catch (error) {
    throw new MessagingUnavailableError(
      `cannot connect to RabbitMQ at ${broker} after ${connectAttempts} attempts: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }

  return {
    async publish<S extends z.ZodType>(
      type: string,
      schema: S,
      payload: z.input<S>,
      options?: PublishOptions,
    ) {
      const envelope = createEnvelope(type, validatePayload(type, schema, payload), options);
      await publishConfirmed(unblocked(`publish ${type}`).publisher, exchange, envelope);
      return envelope;
    },

    async subscribe(queue, pattern, handler) {
      const subscription = { queue: `${queuePrefix}${queue}`, patterns: [pattern].flat(), handler };
      await consume(connected(`subscribe ${queue}`).model, subscription);
      // Only now, so a reconnection re-subscribes exactly what succeeded.
      subscriptions.push(subscription);
    },

    // Promise.try: readiness checks see a rejection, never a synchronous throw.
    ping: () => Promise.try(() => void unblocked("reach RabbitMQ")),

    /** Stops retries and new deliveries, lets running handlers finish and acknowledge, then disconnects. */
    async close() {
      if (closing.signal.aborted) return;
      closing.abort();
      await Promise.allSettled([...handling]);
      live = undefined;
      // amqplib can write the connection's close ahead of acks still queued on a channel, and the
      // broker would then requeue handled messages; a channel's own close cannot overtake them.
      await Promise.allSettled([...openChannels].map((channel) => channel.close()));
      await connection.close();
    },
  };
}

function deadLetterExchange(exchange: string) {
  return `${exchange}.dead`;
}

/** Where a message waits `delayMs` before its next try; the broker moves it back to `queue` after. */
export function retryQueueName(queue: string, delayMs: number) {
  return `${queue}.retry.${delayMs}ms`;
}

/**
 * The service's queue, bound to each pattern, its dead-letter queue, and one delay queue per retry
 * delay. Dead letters keep the queue's name as routing key, so the one direct exchange routes each to
 * its own `<queue>.dead`. A delay queue's messages expire after its delay into the default exchange,
 * which routes by queue name: back to this queue only, not to every subscriber of the event.
 */
async function declareQueue(
  channel: Channel,
  exchange: string,
  { queue, patterns }: Subscription,
  retryDelaysMs: readonly number[],
) {
  await channel.assertExchange(deadLetterExchange(exchange), "direct", { durable: true });
  await channel.assertQueue(`${queue}.dead`, { durable: true });
  await channel.bindQueue(`${queue}.dead`, deadLetterExchange(exchange), queue);
  await channel.assertQueue(queue, {
    durable: true,
    deadLetterExchange: deadLetterExchange(exchange),
    deadLetterRoutingKey: queue,
  });
  for (const delayMs of new Set(retryDelaysMs)) {
    await channel.assertQueue(retryQueueName(queue, delayMs), {
      durable: true,
      messageTtl: delayMs,
      deadLetterExchange: "",
      deadLetterRoutingKey: queue,
    });
  }
  for (const pattern of patterns) await channel.bindQueue(queue, exchange, pattern);
}

/**
 * Sends a consumed message to `queue` as it was published, with `headers` changed; RabbitMQ's death
 * records stay, so deaths keep counting. Resolves on the broker's confirm.
 */
export function sendConfirmed(
  channel: ConfirmChannel,
  queue: string,
  message: Message,
  headers: Record<string, unknown>,
): Promise<void> {
  const { properties } = message;
  return new Promise((resolve, reject) => {
    try {
      channel.sendToQueue(
        queue,
        message.content,
        {
          persistent: true,
          contentType: properties.contentType,
          messageId: properties.messageId,
          type: properties.type,
          timestamp: properties.timestamp,
          correlationId: properties.correlationId,
          headers: { ...properties.headers, ...headers },
        },
        (error) => error ? reject(new Error(`RabbitMQ did not confirm the message to ${queue}`)) : resolve(),
      );
    } catch (error) {
      // amqplib throws at once when the channel already closed.
      reject(error);
    }
  });
}

/** Resolves once the broker has confirmed the message; rejects when it refused it or the channel went. */
function publishConfirmed(channel: ConfirmChannel, exchange: string, envelope: Envelope): Promise<void> {
  const body = Buffer.from(JSON.stringify(envelope));
  const properties = {
    persistent: true,
    contentType: "application/json",
    messageId: envelope.id,
    type: envelope.type,
    // AMQP timestamps count seconds; the envelope and the header keep the milliseconds.
    timestamp: Math.floor(Date.parse(envelope.occurredAt) / 1000),
    correlationId: envelope.correlationId,
    headers: {
      occurredAt: envelope.occurredAt,
      ...(envelope.causationId && { causationId: envelope.causationId }),
      ...(envelope.traceparent && { traceparent: envelope.traceparent }),
    },
  };
  return new Promise((resolve, reject) => {
    const unconfirmed = (error: unknown) =>
      reject(
        new MessagingUnavailableError(
          `RabbitMQ did not confirm ${envelope.type} ${envelope.id}: ${(error as Error).message ?? error}`,
          { cause: error },
        ),
      );
    try {
      channel.publish(
        exchange,
        envelope.type,
        body,
        properties,
        (error) => error ? unconfirmed(error) : resolve(),
      );
    } catch (error) {
      // amqplib throws at once when the channel already closed.
      unconfirmed(error);
    }
  });
}

/** The URL without its password, for logs and errors. */
function redact(url: string) {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
}
