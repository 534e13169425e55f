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

/**
 * The body of a PATCH: the fields to change, at least one, so that an empty request (no body, or `{}`)
 * answers 400 and changes nothing, not even `updatedAt`.
 */
export function patchOf<T extends z.ZodObject>(schema: T) {
  return schema.partial().refine(
    (fields) => Object.keys(fields).length > 0,
    "must name at least one field to change",
  )
    .openapi({ minProperties: 1 });
}

/** Control characters, a line break or tab aside; lone surrogates cannot be stored as given. */
const multilineForbidden = /(?![\n\t])[\p{Cc}\p{Cs}]/u;
/** A one-line field refuses line breaks and tabs too. */
const singleLineForbidden = /[\p{Cc}\p{Cs}]/u;

/**
 * Plain text as people type it: Windows line breaks become "\n", the ends are trimmed, and the
 * length counts characters (code points), so an emoji counts once. Nothing is escaped: the text is
 * stored as given and only ever answered inside JSON strings.
 */
export function plainText(options: { max: number; multiline: boolean }) {
  const forbidden = options.multiline ? multilineForbidden : singleLineForbidden;
  const controls = options.multiline
    ? "must not contain control characters other than line breaks and tabs"
    : "must be one line without control characters";
  // Documented on the input, which the transform below would otherwise leave bare.
  return z.string().openapi({ minLength: 1, maxLength: options.max })
    .transform((value) => value.replaceAll("\r\n", "\n").trim())
    .pipe(
      z.string()
        .min(1, "must not be empty")
        .refine((value) => !forbidden.test(value), controls)
        .refine((value) => [...value].length <= options.max, `must be at most ${options.max} characters`),
    );
}
