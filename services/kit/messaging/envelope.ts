/**
 * The envelope every event travels in: the same JSON on RabbitMQ and on the in-process bus, so a
 * consumer cannot tell which one delivered it.
 */
import { z } from "zod";
import { currentTraceparent } from "../trace_context.ts";
import type { Envelope, PublishOptions } from "./types.ts";

const envelopeSchema = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  occurredAt: z.iso.datetime({ offset: true }),
  correlationId: z.string().min(1),
  causationId: z.string().min(1).optional(),
  traceparent: z.string().min(1).optional(),
  payload: z.unknown(),
});

/** A message body that is not an envelope: it can never be handled, so it goes to the dead letters. */
export class InvalidEnvelopeError extends Error {
  constructor(detail: string) {
    super(`not a message envelope: ${detail}`);
    this.name = "InvalidEnvelopeError";
  }
}

/** A payload that breaks its event's contract; raised before anything is published. */
export class InvalidPayloadError extends Error {
  constructor(type: string, error: z.ZodError) {
    super(`invalid payload for ${type}:\n${z.prettifyError(error)}`, { cause: error });
    this.name = "InvalidPayloadError";
  }
}

export function createEnvelope<Payload>(
  type: string,
  payload: Payload,
  options: PublishOptions = {},
): Envelope<Payload> {
  const id = options.id ?? crypto.randomUUID();
  const traceparent = options.traceparent ?? currentTraceparent();
  return {
    id,
    type,
    occurredAt: options.occurredAt ?? new Date().toISOString(),
    // An event that starts a flow is its own correlation: what it causes inherits the id.
    correlationId: options.correlationId ?? id,
    // Left out rather than `undefined`, so an envelope equals itself after a JSON round trip.
    ...(options.causationId ? { causationId: options.causationId } : {}),
    ...(traceparent ? { traceparent } : {}),
    payload,
  };
}

export function parseEnvelope(body: Uint8Array | string): Envelope {
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InvalidEnvelopeError(`body is not JSON (${(error as Error).message})`);
  }
  const result = envelopeSchema.safeParse(json);
  if (!result.success) throw new InvalidEnvelopeError(z.prettifyError(result.error));
  return result.data;
}

/** The payload as the event's schema outputs it; throws InvalidPayloadError when it breaks the contract. */
export function validatePayload<S extends z.ZodType>(
  type: string,
  schema: S,
  payload: z.input<S>,
): z.output<S> {
  const result = schema.safeParse(payload);
  if (!result.success) throw new InvalidPayloadError(type, result.error);
  return result.data;
}
