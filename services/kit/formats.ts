/**
 * Parameters described in the OpenAPI documents as strictly as the server checks them, so that a
 * client (or a fuzzer) that follows the document is not refused.
 */
import { z } from "@hono/zod-openapi";

/**
 * What zod's `uuid()` accepts: RFC 9562 UUIDs (version 1 to 8, the RFC variant) and the nil and max
 * ones. `format: uuid` alone allows any 8-4-4-4-12 hex string, which is refused.
 */
export const uuidPattern: RegExp = z.regexes.uuid();

/** A UUID parameter or field; `message` is the 400's reason when it is not one. */
export const uuidId = (message: string) => z.uuid(message).openapi({ pattern: uuidPattern.source });

/** A comma-separated list of 1 to `maxIds` UUIDs, spaces around them allowed. */
export function uuidListPattern(maxIds: number): string {
  const id = uuidPattern.source.replace(/^\^/, "").replace(/\$$/, "");
  return `^\\s*${id}\\s*(,\\s*${id}\\s*){0,${maxIds - 1}}$`;
}
