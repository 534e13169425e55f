/**
 * Configuration from environment variables, validated once at start. Every variable has a default
 * that makes the embedded mode work with no variables at all.
 */
import { z } from "zod";

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export function loadConfig<Schema extends z.ZodType>(
  schema: Schema,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): z.output<Schema> {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ""),
  );
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const name = issue.path.join(".") || "(environment)";
      const shown = typeof present[name] === "string" ? ` (got ${JSON.stringify(present[name])})` : "";
      return `${name}: ${issue.message}${shown}`;
    }),
  );
}

/** Runs a process entry point, turning a configuration error into a readable message and exit code 2. */
export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      console.error("Fix the variables above (see the configuration table in README.md) and start again.");
      Deno.exit(2);
    }
    throw error;
  }
}

export const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
export const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
export const flag = (fallback: boolean) =>
  z.enum(["true", "false", "1", "0"]).default(fallback ? "true" : "false").transform((v) =>
    v === "true" || v === "1"
  );

/** Variables every service reads. */
export const commonEnv = {
  HOST: z.string().min(1).default("127.0.0.1"),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  BODY_LIMIT_BYTES: positiveInt(1024 * 1024),
  SHUTDOWN_TIMEOUT_MS: positiveInt(10_000),
  DATA_DIR: z.string().min(1).default("data"),
};

export const postgresEnv = {
  POSTGRES_URL: z.url({ protocol: /^postgres(ql)?$/, error: "must be a postgres:// URL" }).optional(),
  POSTGRES_POOL_MAX: positiveInt(10),
};

/** Where a service finds identity, to verify the access tokens it is sent. */
export const authEnv = {
  AUTH_ISSUER: z.string().min(1).default("http://127.0.0.1:5001"),
  AUTH_AUDIENCE: z.string().min(1).default("multishop"),
  AUTH_JWKS_URL: z.url().default("http://127.0.0.1:5001/.well-known/jwks.json"),
};

/** An http(s) URL, its trailing slash dropped, so that paths can be appended. */
export const httpUrl = (fallback: string) =>
  z.url({ protocol: /^https?$/ }).default(fallback).transform((value) => value.replace(/\/$/, ""));

/**
 * Where a service that calls others gets tokens of its own client at identity. The development
 * secret `<client>-dev-secret` is in identity's SERVICE_CLIENTS default too; production sets both.
 */
export const serviceClientEnv = (clientId: string) => ({
  SERVICE_TOKEN_URL: httpUrl("http://127.0.0.1:5001/oauth/token"),
  SERVICE_CLIENT_ID: z.string().min(1).default(clientId),
  SERVICE_CLIENT_SECRET: z.string().min(16).default(`${clientId}-dev-secret`),
});
