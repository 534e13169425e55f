/** Turns zod issues into the `errors` member of a 400 problem document. */
import { z } from "zod";
import type { FieldError } from "./problem.ts";

// A missing field reads better as "is required" than as "expected string, received undefined".
z.config({
  customError: (
    issue,
  ) => (issue.code === "invalid_type" && issue.input === undefined ? "is required" : undefined),
});

const targetPrefix: Record<string, string> = {
  json: "",
  form: "",
  query: "query.",
  param: "path.",
  header: "header.",
  cookie: "cookie.",
};

export function fieldErrors(error: z.ZodError, target = "json"): FieldError[] {
  const prefix = targetPrefix[target] ?? `${target}.`;
  return error.issues.flatMap((issue): FieldError[] => {
    const path = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({
        field: prefix + (path ? `${path}.${key}` : key),
        reason: "is not a known field",
      }));
    }
    return [{ field: prefix + path || "body", reason: issue.message }];
  });
}
