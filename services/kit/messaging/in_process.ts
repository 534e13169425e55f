/**
 * The embedded bus: RabbitMQ's semantics for services sharing one process, with nothing to install.
 * Topic routing, one queue per subscriber name (its consumers share the messages, round-robin),
 * asynchronous at-least-once delivery, retry then dead letter. Messages live in memory only: they
 * last as long as the process, as the embedded mode's services do.
 */
import type { z } from "zod";
import { describeError, type Logger } from "../log.ts";
import { inSpan } from "../trace_context.ts";
import { createEnvelope, validatePayload } from "./envelope.ts";
import { defaultRetryDelaysMs, handleWithRetries } from "./retry.ts";
import type { Envelope, Handler, MessageBus, PublishOptions } from "./types.ts";

export interface InProcessBusOptions {
  logger: Logger;
  /** Waits before each in-place retry of a failed handler; after the last, the message is dead. */
  retryDelaysMs?: readonly number[];
}

export interface DeadLetter {
  envelope: Envelope;
  /** Why the last try failed. */
  error: string;
}

export interface InProcessBus extends MessageBus {
  /** The messages of `queue` whose handler failed every retry, oldest first. */
  deadLetters(queue: string): DeadLetter[];
  /** Delivers the dead letters of `queue` to that queue again (not to other queues); returns how many. */
  replayDeadLetters(queue: string): number;
}

interface LocalQueue {
  name: string;
  patterns: Set<string>;
  consumers: Handler[];
  nextConsumer: number;
  deadLetters: DeadLetter[];
}

export function createInProcessBus(
  { logger, retryDelaysMs = defaultRetryDelaysMs }: InProcessBusOptions,
): InProcessBus {
  const queues = new Map<string, LocalQueue>();
  const deliveries = new Set<Promise<void>>();
  const closing = new AbortController();

  function assertOpen(action: string) {
    if (closing.signal.aborted) throw new Error(`cannot ${action}: the in-process message bus is closed`);
  }

  /** Runs on a later microtask, so a handler never runs inside the publisher's call stack. */
  function enqueue(queue: LocalQueue, body: string) {
    const delivery = Promise.resolve().then(() => deliver(queue, body));
    deliveries.add(delivery);
    delivery.finally(() => deliveries.delete(delivery));
  }

  async function deliver(queue: LocalQueue, body: string) {
    if (closing.signal.aborted) return;
    const consumer = queue.consumers[queue.nextConsumer++ % queue.consumers.length];
    const { id, type, traceparent } = JSON.parse(body) as Envelope;
    const fields = { queue: queue.name, messageId: id, type };
    // Each try gets its own copy: neither the publisher's object nor an earlier try's edits leak in.
    const outcome = await handleWithRetries(() => inSpan(traceparent, () => consumer(JSON.parse(body))), {
      retryDelaysMs,
      signal: closing.signal,
      logger,
      fields,
    });
    if (outcome.status !== "failed") return;
    const failure = describeError(outcome.error);
    queue.deadLetters.push({ envelope: JSON.parse(body), error: String(failure.error) });
    logger.error("message handler failed every retry; message dead-lettered", { ...fields, ...failure });
  }

  // Promise.try: a refusal reaches the caller as a rejection, as it does from RabbitMQ, never as a throw.
  return {
    publish<S extends z.ZodType>(type: string, schema: S, payload: z.input<S>, options?: PublishOptions) {
      return Promise.try(() => {
        assertOpen(`publish ${type}`);
        const envelope = createEnvelope(type, validatePayload(type, schema, payload), options);
        const body = JSON.stringify(envelope);
        for (const queue of queues.values()) {
          if ([...queue.patterns].some((pattern) => topicMatches(pattern, type))) enqueue(queue, body);
        }
        return envelope;
      });
    },

    subscribe(name, pattern, handler) {
      return Promise.try(() => {
        assertOpen(`subscribe ${name}`);
        const queue = queues.get(name) ??
          { name, patterns: new Set<string>(), consumers: [], nextConsumer: 0, deadLetters: [] };
        queues.set(name, queue);
        for (const each of [pattern].flat()) queue.patterns.add(each);
        queue.consumers.push(handler);
      });
    },

    ping: () => Promise.try(() => assertOpen("ping")),

    /** Stops retries and new deliveries, then waits for the handlers already running. */
    async close() {
      closing.abort();
      await Promise.allSettled([...deliveries]);
    },

    deadLetters: (name) => [...(queues.get(name)?.deadLetters ?? [])],

    replayDeadLetters(name) {
      assertOpen(`replay the dead letters of ${name}`);
      const queue = queues.get(name);
      if (!queue) return 0;
      const letters = queue.deadLetters.splice(0);
      for (const letter of letters) enqueue(queue, JSON.stringify(letter.envelope));
      return letters.length;
    },
  };
}

/**
 * AMQP topic matching: words are separated by dots, `*` matches exactly one word and `#` zero or
 * more, so `catalog.#` matches `catalog` itself as RabbitMQ does.
 */
export function topicMatches(pattern: string, routingKey: string): boolean {
  return wordsMatch(pattern.split("."), 0, routingKey.split("."), 0);
}

function wordsMatch(pattern: string[], p: number, key: string[], k: number): boolean {
  if (p === pattern.length) return k === key.length;
  if (pattern[p] === "#") {
    // `#` either ends here or swallows one more word and stays in play.
    return wordsMatch(pattern, p + 1, key, k) || (k < key.length && wordsMatch(pattern, p, key, k + 1));
  }
  return k < key.length && (pattern[p] === "*" || pattern[p] === key[k]) &&
    wordsMatch(pattern, p + 1, key, k + 1);
}
