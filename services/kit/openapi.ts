/** OpenAPI pieces every service's routes share. */
import { z } from "@hono/zod-openapi";
import { problemContentType, statusTitle } from "./problem.ts";

export const problemSchema = z.object({
  type: z.string().openapi({ example: "urn:multishop:problem:validation" }),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  instance: z.string().optional(),
  requestId: z.string().optional(),
  errors: z.array(z.object({ field: z.string(), reason: z.string() })).optional(),
}).openapi("Problem", { description: "An RFC 9457 problem document" });

/** Response entries for the error statuses a route can answer, each an RFC 9457 problem document. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [status, {
      description: statusTitle(status),
      content: { [problemContentType]: { schema: problemSchema } },
    }]),
  );
}

/** A JSON response entry for a route's `responses`. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { content: { "application/json": { schema } }, description };
}

/** A required JSON request body for a route's `request.body`: anything else answers 415. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { "application/json": { schema } } };
}
