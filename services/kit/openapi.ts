/** OpenAPI pieces every service's routes share. */
import { z } from "@hono/zod-openapi";
import { problemSchema } from "./contracts/problems.ts";
import { problemContentType, statusTitle } from "./problem.ts";

/** Response entries for the error statuses a route can answer, each an RFC 9457 problem document. */
export function problems(...statuses: number[]) {
  return problemsOf(problemSchema, ...statuses);
}

/**
 * Response entries for error statuses whose problem document is a named kind of Problem, with members of
 * its own (see kit/contracts/problems.ts).
 */
export function problemsOf<T extends z.ZodType>(schema: T, ...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [status, {
      description: statusTitle(status),
      content: { [problemContentType]: { schema } },
    }]),
  );
}

/**
 * A named schema or null. zod's `.nullable()` of a named schema comes out as an `allOf` with
 * `type: [object, null]`, which null itself does not match; a union with null is the `anyOf` that
 * generated clients read as an optional value.
 */
export function orNull<T extends z.ZodType>(schema: T) {
  return z.union([schema, z.null()]);
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
