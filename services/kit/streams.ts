/**
 * Server-sent event streams for signed-in callers: how many one caller may hold open at once, and
 * how a stream is described in the OpenAPI document.
 *
 * An open stream keeps a connection and a poll or a watcher busy on the server for as long as its
 * client likes, so without a bound one account could hold thousands of them and starve everyone
 * else. The count is kept per process: with several instances behind the edge, a caller may hold
 * up to the bound on each (the edge's rate limits bound how fast they can be opened).
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import type { AppEnv } from "./app.ts";
import { principalOf } from "./auth.ts";
import { positiveInt } from "./config.ts";
import { problemSchema } from "./contracts/problems.ts";
import { problemContentType, ProblemError } from "./problem.ts";

/** How many event streams one user may hold open at once (on each instance of the service). */
export const defaultStreamsPerUser = 5;

/** The configuration of a service that serves event streams. */
export const streamsEnv = {
  EVENT_STREAMS_PER_USER: positiveInt(defaultStreamsPerUser),
};

/**
 * A refused client cannot know when one of its streams will end, and a browser's EventSource that
 * lost its connection comes back within seconds: this is how soon it may try again.
 */
export const streamRetryAfterSeconds = 10;

/** Counts the streams each holder (a user id) has open, up to `perHolder` at once. */
export function createStreamSlots(perHolder: number) {
  const open = new Map<string, number>();
  return {
    /**
     * Takes one of the holder's slots, or throws a 429 problem (with Retry-After) when all are taken.
     * The function it returns gives the slot back; calling it again does nothing.
     */
    take(holder: string): () => void {
      const held = open.get(holder) ?? 0;
      if (held >= perHolder) {
        throw new ProblemError({
          status: 429,
          kind: "too-many-streams",
          detail: `you have ${held} event streams open, the most one user may hold; close one and try again`,
          headers: { "retry-after": String(streamRetryAfterSeconds) },
        });
      }
      open.set(holder, held + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (open.get(holder) ?? 1) - 1;
        if (left > 0) open.set(holder, left);
        else open.delete(holder);
      };
    },
    /** How many streams the holder has open now. */
    held: (holder: string): number => open.get(holder) ?? 0,
  };
}

export type StreamSlots = ReturnType<typeof createStreamSlots>;

/**
 * Answers with a server-sent event stream that `run` writes, in one of the signed-in caller's slots;
 * the slot is given back when `run` ends, whether the stream finished, its client went away (`run`
 * must watch `stream.aborted` or `stream.onAbort`) or it failed. The stream is the caller's alone, so
 * no cache may keep it (Hono's `no-cache` would still let one store it).
 */
export function userEventStream(
  c: Context<AppEnv>,
  slots: StreamSlots,
  run: (stream: SSEStreamingApi) => Promise<void>,
): Response {
  const release = slots.take(principalOf(c).subject);
  const response = streamSSE(c, async (stream) => {
    try {
      await run(stream);
    } finally {
      release();
    }
  });
  response.headers.set("cache-control", "no-store");
  return response;
}

/** One kind of event a stream sends: its name, what its `data:` line holds, and what its `id:` is. */
export interface StreamEvent {
  name: string;
  data: z.ZodType;
  id: string;
}

/**
 * The OpenAPI response of an event stream. OpenAPI 3.1 cannot describe the items of a stream (3.2's
 * `itemSchema` will), so the schema describes one event as a client's EventSource hands it over (and as
 * schemathesis checks it): its `event` name, its `id`, and its `data:` line, a string of JSON whose
 * schema is its `contentSchema`.
 */
export function eventStreamResponse(description: string, events: [StreamEvent, ...StreamEvent[]]) {
  const [first, ...others] = events.map((event) => {
    const { $schema: _, ...contentSchema } = z.toJSONSchema(event.data, {
      io: "output",
      unrepresentable: "any",
    });
    // JSON Schema's keywords for a string that holds JSON, which the generator's types do not list.
    const jsonString: Record<string, unknown> = {
      description: "the event's data, as JSON",
      contentMediaType: "application/json",
      contentSchema,
    };
    return z.object({
      event: z.literal(event.name),
      id: z.string().openapi({ description: event.id }),
      data: z.string().openapi(jsonString),
    });
  });
  const schema = others.length === 0 ? first : z.union([first, ...others]);
  return {
    description,
    content: {
      "text/event-stream": {
        schema: schema.openapi({
          description:
            "One event of the stream (`event:`, `id:` and `data:` lines); lines starting with `:` " +
            "are keep-alive comments.",
        }),
      },
    },
  };
}

/** The 429 of a route that opens an event stream: the caller holds as many as one user may. */
export const tooManyStreamsResponse = {
  429: {
    description: "The caller holds as many event streams open as one user may; close one first",
    headers: {
      "Retry-After": {
        description: "seconds to wait before trying again",
        schema: { type: "integer" as const, example: streamRetryAfterSeconds },
      },
    },
    content: { [problemContentType]: { schema: problemSchema } },
  },
};
