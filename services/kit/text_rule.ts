/**
 * The one rule for text that comes from a client: it must be something a store can keep as given.
 * PostgreSQL refuses NUL in text, a lone surrogate has no UTF-8 form (a driver stores U+FFFD in its
 * place, silently), and no other control character belongs in a shop's data. Line breaks and tabs pass
 * here; each field's schema decides whether it takes them (`plainText` in ./openapi.ts).
 */
import type { Context, MiddlewareHandler } from "hono";
import type { FieldError } from "./problem.ts";

const unstorable = /(?![\t\n\r])[\p{Cc}\p{Cs}]/u;

export const unstorableReason = "must not contain control characters or lone surrogates";

export function isStorableText(text: string): boolean {
  return !unstorable.test(text);
}

/** The dotted path of the first string in a parsed JSON or form value (keys included) that breaks the rule. */
export function findUnstorableText(value: unknown, path = ""): string | undefined {
  if (typeof value === "string") return isStorableText(value) ? undefined : path;
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, member] of Object.entries(value)) {
    const memberPath = path ? `${path}.${key}` : key;
    if (!isStorableText(key)) return memberPath;
    const found = findUnstorableText(member, memberPath);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Names a path segment after the route parameter it fills, where a route of the app has one there. */
export type PathParameterNamer = (path: string, segment: number) => string | undefined;

const jsonMediaType = /^application\/([\w.-]+\+)?json$/i;
const formMediaType = "application/x-www-form-urlencoded";

/**
 * Refuses a request whose path, query or JSON or form body holds text that breaks the rule, before any
 * route reads it, with the place named (`path.id`, `query.q`, `address.city`). Every service gets it
 * from `createApp`, so no route can forget it; the parsed JSON body is kept for the route's validator.
 */
export function storableInput(
  nameParameter: PathParameterNamer,
  refuse: (c: Context, errors: FieldError[]) => never,
): MiddlewareHandler {
  return async (c, next) => {
    const url = new URL(c.req.url);
    const segments = url.pathname.split("/");
    for (const [index, segment] of segments.entries()) {
      const decoded = decodeOrKeep(segment);
      if (!isStorableText(decoded)) {
        const parameter = nameParameter(url.pathname, index);
        refuse(c, [{ field: parameter ? `path.${parameter}` : "path", reason: unstorableReason }]);
      }
    }
    for (const [name, values] of Object.entries(c.req.queries())) {
      if (!isStorableText(name) || !values.every(isStorableText)) {
        refuse(c, [{ field: `query.${name}`, reason: unstorableReason }]);
      }
    }
    const field = await unstorableBodyField(c);
    if (field !== undefined) refuse(c, [{ field: field || "body", reason: unstorableReason }]);
    await next();
  };
}

async function unstorableBodyField(c: Context): Promise<string | undefined> {
  const mediaType = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (jsonMediaType.test(mediaType)) {
    const text = await c.req.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return undefined; // the route's validator answers that the body is not JSON
    }
    c.req.bodyCache.json = Promise.resolve(parsed);
    return findUnstorableText(parsed);
  }
  if (mediaType === formMediaType) {
    const form = new URLSearchParams(await c.req.text());
    for (const [name, value] of form) {
      if (!isStorableText(name) || !isStorableText(value)) return name;
    }
  }
  return undefined;
}

function decodeOrKeep(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
