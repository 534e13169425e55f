/**
 * The messaging layer's shape, shared by the RabbitMQ adapter and the in-process bus: a service
 * publishes typed events; consumers subscribe by routing-key pattern.
 */
import type { z } from "zod";

export interface Envelope<Payload = unknown> {
  id: string;
  type: string;
  occurredAt: string;
  correlationId: string;
  causationId?: string;
  /** The W3C trace context of the span that published it; its handling continues that trace. */
  traceparent?: string;
  payload: Payload;
}

export interface PublishOptions {
  id?: string;
  correlationId?: string;
  causationId?: string;
  /** When the event happened, if not now: the outbox relay publishes events written earlier. */
  occurredAt?: string;
  /** The trace it belongs to; by default the span running now (a request's, a handled message's). */
  traceparent?: string;
}

export interface EventPublisher {
  /** Resolves once the broker has confirmed the message (persisted, for RabbitMQ). */
  publish<S extends z.ZodType>(
    type: string,
    schema: S,
    payload: z.input<S>,
    options?: PublishOptions,
  ): Promise<Envelope>;
  /** Throws when the broker cannot be reached; for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type Handler = (envelope: Envelope) => Promise<void>;

export interface EventSubscriber {
  /** `pattern` is a topic pattern: `catalog.product.*`, `catalog.#`. */
  subscribe(queue: string, pattern: string | string[], handler: Handler): Promise<void>;
}

/** What a service holds: one bus it both publishes to and subscribes from. */
export interface MessageBus extends EventPublisher, EventSubscriber {}
