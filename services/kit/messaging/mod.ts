/**
 * Messaging for services: publish typed events, subscribe by topic pattern. RabbitMQ when AMQP_URL
 * is set; otherwise the in-process bus, the embedded default where all services share one process.
 */
import { z } from "zod";
import type { Logger } from "../log.ts";
import { createInProcessBus } from "./in_process.ts";
import { connectRabbitMq } from "./rabbitmq.ts";
import type { MessageBus } from "./types.ts";

export type * from "./types.ts";
export { createEnvelope, InvalidEnvelopeError, InvalidPayloadError, parseEnvelope } from "./envelope.ts";
export {
  connectRabbitMq,
  MessagingUnavailableError,
  type RabbitMqOptions,
  retryQueueName,
} from "./rabbitmq.ts";
export { defaultRetryDelaysMs } from "./retry.ts";
export {
  createInProcessBus,
  type DeadLetter,
  type InProcessBus,
  type InProcessBusOptions,
  topicMatches,
} from "./in_process.ts";
export {
  enqueue,
  type EnqueueOptions,
  outboxMigrations,
  type OutboxRelay,
  type OutboxRelayOptions,
  startOutboxRelay,
} from "./outbox.ts";
export {
  type ClaimedEvents,
  type DocumentOutbox,
  type DocumentOutboxRelay,
  type DocumentOutboxRelayOptions,
  type PendingEvent,
  pendingEvent,
  startDocumentOutboxRelay,
} from "./document_outbox.ts";
export { handleOnce, inboxMigration, wasHandled } from "./inbox.ts";
export {
  connectRabbitMqDeadLetters,
  type ParkedMessage,
  type RabbitMqDeadLetters,
} from "./rabbitmq_dead_letters.ts";

/** The configuration fragment a service that sends or receives events spreads into its schema. */
export const messagingEnv = {
  AMQP_URL: z.url({ protocol: /^amqps?$/, error: "must be an amqp:// or amqps:// URL" }).optional(),
};

export function messagingFromConfig(config: { AMQP_URL?: string }, logger: Logger): Promise<MessageBus> {
  if (config.AMQP_URL) return connectRabbitMq(config.AMQP_URL, { logger });
  logger.info("messaging in process (AMQP_URL is not set)");
  return Promise.resolve(createInProcessBus({ logger }));
}
