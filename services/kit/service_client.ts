/**
 * Calls from one service to another: a client-credentials token from identity (cached, renewed before
 * it expires, fetched again once if refused), a timeout per attempt, and retries with backoff for
 * idempotent calls on connection errors, timeouts, 502, 503 and 504.
 */
import pRetry, { AbortError } from "p-retry";
import type { Logger } from "./log.ts";

export interface ServiceClientOptions {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scopes: string[];
  logger: Logger;
  timeoutMs?: number;
  retries?: number;
}

/** The other service could not be reached, or kept failing; its answer, if any, is not passed on. */
export class ServiceUnavailableError extends Error {
  constructor(readonly target: string, reason: string) {
    super(`${target} is unavailable: ${reason}`);
    this.name = "ServiceUnavailableError";
  }
}

const transient = new Set([502, 503, 504]);
// A token is renewed this long before it expires, so that it never expires in flight.
const renewBeforeMs = 30_000;

export function createServiceClient(options: ServiceClientOptions) {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const retries = options.retries ?? 2;
  let token: { value: string; expiresAt: number } | undefined;
  let pending: Promise<string> | undefined;

  async function fetchToken(): Promise<string> {
    const response = await fetch(options.tokenUrl, {
      method: "POST",
      headers: { authorization: `Basic ${btoa(`${options.clientId}:${options.clientSecret}`)}` },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: options.scopes.join(" ") }),
      signal: AbortSignal.timeout(timeoutMs),
    }).catch((error) => {
      throw new ServiceUnavailableError("identity", String(error));
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || typeof body.access_token !== "string") {
      throw new ServiceUnavailableError(
        "identity",
        `token request answered ${response.status} ${body.error ?? ""}`.trim(),
      );
    }
    token = { value: body.access_token, expiresAt: Date.now() + Number(body.expires_in ?? 60) * 1000 };
    return token.value;
  }

  function accessToken(): Promise<string> {
    if (token && token.expiresAt - renewBeforeMs > Date.now()) return Promise.resolve(token.value);
    pending ??= fetchToken().finally(() => (pending = undefined));
    return pending;
  }

  /** One attempt: a fresh token after a 401, then the answer. */
  async function attempt(url: string, init: RequestInit): Promise<Response> {
    const call = async (bearer: string) =>
      await send(url, {
        ...init,
        headers: { ...Object.fromEntries(new Headers(init.headers)), authorization: `Bearer ${bearer}` },
      }, timeoutMs);
    let response = await call(await accessToken());
    if (response.status === 401) {
      await response.body?.cancel();
      token = undefined;
      response = await call(await accessToken());
    }
    return refuseTransient(url, response);
  }

  return {
    /**
     * Sends the request with the service's token. Idempotent calls are retried on transient failures;
     * others are tried once. Throws ServiceUnavailableError when the other side cannot answer.
     */
    request: (url: string, init: RequestInit & { idempotent?: boolean } = {}) =>
      withRetries(url, init, { retries, logger: options.logger }, attempt),
  };
}

/**
 * Calls to another service's public endpoints, which need no token: the same timeouts and retries as
 * the service client, without asking identity for anything.
 */
export function createPublicClient(options: { logger: Logger; timeoutMs?: number; retries?: number }) {
  const timeoutMs = options.timeoutMs ?? 3_000;
  return {
    /** As ServiceClient.request, anonymously. */
    request: (url: string, init: RequestInit & { idempotent?: boolean } = {}) =>
      withRetries(
        url,
        init,
        { retries: options.retries ?? 2, logger: options.logger },
        async (url, init) => refuseTransient(url, await send(url, init, timeoutMs)),
      ),
  };
}

async function send(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) }).catch((error) => {
    throw new ServiceUnavailableError(new URL(url).host, String(error));
  });
}

/** A 502, 503 or 504 says the other side is failing now: an error to retry, not an answer. */
async function refuseTransient(url: string, response: Response): Promise<Response> {
  if (!transient.has(response.status)) return response;
  await response.body?.cancel();
  throw new ServiceUnavailableError(new URL(url).host, `answered ${response.status}`);
}

async function withRetries(
  url: string,
  init: RequestInit & { idempotent?: boolean },
  policy: { retries: number; logger: Logger },
  attempt: (url: string, init: RequestInit) => Promise<Response>,
): Promise<Response> {
  const idempotent = init.idempotent ?? ["GET", "HEAD", undefined].includes(init.method);
  return await pRetry(async () => {
    try {
      return await attempt(url, init);
    } catch (error) {
      if (error instanceof ServiceUnavailableError && idempotent) throw error;
      throw new AbortError(error as Error);
    }
  }, {
    retries: idempotent ? policy.retries : 0,
    minTimeout: 100,
    maxTimeout: 1_000,
    randomize: true,
    onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
      if (retriesLeft > 0) {
        policy.logger.warn("service call failed; retrying", { url, attemptNumber, error: error.message });
      }
    },
  });
}

export type ServiceClient = ReturnType<typeof createServiceClient>;
export type PublicClient = ReturnType<typeof createPublicClient>;

/** The service client a service builds from its serviceClientEnv variables. */
export function serviceClientFromConfig(
  config: { SERVICE_TOKEN_URL: string; SERVICE_CLIENT_ID: string; SERVICE_CLIENT_SECRET: string },
  options: Omit<ServiceClientOptions, "tokenUrl" | "clientId" | "clientSecret">,
): ServiceClient {
  return createServiceClient({
    tokenUrl: config.SERVICE_TOKEN_URL,
    clientId: config.SERVICE_CLIENT_ID,
    clientSecret: config.SERVICE_CLIENT_SECRET,
    ...options,
  });
}
