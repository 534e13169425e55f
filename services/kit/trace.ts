/**
 * W3C trace context: the `traceparent` the edge starts or continues, and every service and message
 * after it carries on, so that one request's work can be followed across services. No I/O; it runs
 * in the edge's Worker too.
 */

const traceparentPattern = /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/;

/** A new span of the trace `incoming` names; a new trace when it names none (or is malformed). */
export function nextTraceparent(incoming: string | null | undefined): string {
  const span = hex(8);
  const match = incoming ? traceparentPattern.exec(incoming) : null;
  if (match && !/^0+$/.test(match[1])) return `00-${match[1]}-${span}-${match[2]}`;
  return `00-${hex(16)}-${span}-01`;
}

/** The trace a traceparent belongs to, as log lines name it. */
export const traceIdOf = (traceparent: string): string => traceparent.split("-")[1];

function hex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}
