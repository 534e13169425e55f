/**
 * The RabbitMQ adapter. One durable topic exchange, routing key = event type; one durable queue per
 * consuming service, dead-lettering to `<queue>.dead` through the direct exchange `<exchange>.dead`.
 * Publishes are persistent and resolve on the broker's confirm. amqplib's connection recovery
 * reconnects with backoff and reruns `setUp`, which re-declares the topology and re-subscribes, so
 * the services ride out a broker restart without help.
 */
import { Buffer } from "node:buffer";
import { type Channel, type ChannelModel, type ConfirmChannel, connect, type ConsumeMessage } from "amqplib";
import type { z } from "zod";
import { describeError, type Logger } from "../log.ts";
import { createEnvelope, parseEnvelope, validatePayload } from "./envelope.ts";
import { defaultRetryDelaysMs, handleWithRetries } from "./retry.ts";
import type { Envelope, Handler, MessageBus, PublishOptions } from "./types.ts";

export interface RabbitMqOptions {
  logger: Logger;
  /** The topic exchange events go to; dead letters go to `<exchange>.dead`. */
  exchange?: string;
  /** Unacknowledged messages a subscription holds at once. */
  prefetch?: number;
  /** Waits before each in-place retry of a failed handler; after the last, the message is dead. */
  retryDelaysMs?: readonly number[];
  /** Reconnect backoff: the first wait, doubling up to `max`. */
  reconnectDelayMs?: { initial: number; max: number };
  /** Tries at the first connection before giving up; a later outage is retried without end. */
  connectAttempts?: number;
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
      await declareQueue(channel, exchange, subscription);
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
    const fields = { queue, messageId: envelope.id, type: envelope.type };
    // Parsed afresh for each try, so one try's edits to the envelope cannot leak into the next.
    const outcome = await handleWithRetries(() => handler(parseEnvelope(message.content)), {
      retryDelaysMs,
      signal: closing.signal,
      logger,
      fields,
    });
    if (outcome.status === "handled") return settle(queue, () => channel.ack(message));
    if (outcome.status === "failed") {
      logger.error("message handler failed every retry; message dead-lettered", {
        ...fields,
        ...describeError(outcome.error),
      });
      return settle(queue, () => channel.nack(message, false, false));
    }
    // Abandoned by close(): left unacknowledged, so the broker requeues it when the channel closes.
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
      const subscription = { queue, patterns: [pattern].flat(), handler };
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

/**
 * The service's queue, bound to each pattern, and its dead-letter queue. Dead letters keep the
 * queue's name as routing key, so the one direct exchange routes each to its own `<queue>.dead`.
 */
async function declareQueue(channel: Channel, exchange: string, { queue, patterns }: Subscription) {
  await channel.assertExchange(deadLetterExchange(exchange), "direct", { durable: true });
  await channel.assertQueue(`${queue}.dead`, { durable: true });
  await channel.bindQueue(`${queue}.dead`, deadLetterExchange(exchange), queue);
  await channel.assertQueue(queue, {
    durable: true,
    deadLetterExchange: deadLetterExchange(exchange),
    deadLetterRoutingKey: queue,
  });
  for (const pattern of patterns) await channel.bindQueue(queue, exchange, pattern);
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
