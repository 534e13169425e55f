/** Cursor paging, the same on every list: `limit` and `cursor` in, `{ items, nextCursor }` out. */
import { z } from "@hono/zod-openapi";
import { base64url } from "jose";
import { ProblemError } from "./problem.ts";

export const pagingQuery = {
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ description: "page size, 1 to 100" }),
  // Cursors are base64url (encodeCursor), so anything else is refused before it is decoded.
  cursor: z.string().max(500).regex(/^[A-Za-z0-9_-]+$/, "is not a cursor from this list").optional()
    .openapi({
      description: "opaque: the `nextCursor` of the previous page of the same list (same filters and " +
        "sort), as it was returned",
    }),
};

export function encodeCursor(position: unknown): string {
  return base64url.encode(JSON.stringify(position));
}

/** Decodes a cursor this service made; anything else is a 400 naming the `cursor` parameter. */
export function decodeCursor<T>(cursor: string, schema: z.ZodType<T>): T {
  try {
    const parsed = schema.safeParse(JSON.parse(new TextDecoder().decode(base64url.decode(cursor))));
    if (parsed.success) return parsed.data;
  } catch {
    // falls through to the 400 below
  }
  throw new ProblemError({
    status: 400,
    kind: "validation",
    title: "Invalid request",
    errors: [{ field: "query.cursor", reason: "is not a cursor from this list" }],
  });
}

/**
 * A page from rows fetched with `limit + 1`: the first `limit` of them, and the cursor at the last
 * of those when the extra row shows another page follows.
 */
export function pageOf<Row>(
  fetched: readonly Row[],
  limit: number,
  positionOf: (row: Row) => unknown,
): { items: Row[]; nextCursor: string | null } {
  const items = fetched.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    nextCursor: fetched.length > limit && last !== undefined ? encodeCursor(positionOf(last)) : null,
  };
}

/** The cursor position of a list ordered by creation time, the id breaking ties. */
export const createdPosition = (row: { createdAt: Date; id: string }) => ({
  createdAt: row.createdAt.toISOString(),
  id: row.id,
});
