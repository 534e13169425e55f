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
