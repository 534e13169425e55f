/**
 * The problem document (RFC 9457) every service and the edge answer errors with (kit/problem.ts makes
 * them). An error with members of its own is a named kind of it, built with `.extend()`, so that a
 * client reads the common members the same way whatever the error.
 */
import { z } from "@hono/zod-openapi";

const fieldErrorSchema = z.object({
  field: z.string().openapi({
    description: "a dotted path into the body, or `query.x`, `header.x`, `path.x`",
  }),
  reason: z.string(),
}).openapi("FieldError", { description: "What is wrong with one field of the request" });

export const problemSchema = z.object({
  type: z.string().openapi({ example: "urn:multishop:problem:validation" }),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  instance: z.string().optional(),
  requestId: z.string().optional(),
  errors: z.array(fieldErrorSchema).optional(),
}).openapi("Problem", { description: "An RFC 9457 problem document" });
