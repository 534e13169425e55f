/**
 * The signing keys: one ES256 key signs access tokens at a time. A new key is published for a while
 * before it signs (verifiers that cached the key set refetch it in time), and a retired key stays
 * published until every token it signed has expired. Keys live in the database so that every
 * instance signs with, and publishes, the same set.
 */
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTVerifyGetKey,
  SignJWT,
} from "jose";
import type { Logger } from "@multishop/kit/log";
import type { IdentityStore, SigningKeyRow } from "./store/postgres.ts";

const algorithm = "ES256";
// Another instance may rotate; this is how stale an instance's view of the keys can be.
const reloadAfterMs = 60_000;

export interface KeyRingOptions {
  accessTokenTtlSeconds: number;
  rotationDays: number;
  activationDelaySeconds: number;
  clock: () => Date;
  logger: Logger;
}

export function createKeyRing(store: IdentityStore, options: KeyRingOptions) {
  let loaded: { rows: SigningKeyRow[]; at: number } | undefined;
  const privateKeys = new Map<string, Promise<CryptoKey>>();
  const now = () => options.clock().getTime();

  async function rows(): Promise<SigningKeyRow[]> {
    if (!loaded || now() - loaded.at > reloadAfterMs) loaded = { rows: await store.signingKeys(), at: now() };
    return loaded.rows;
  }

  async function rotate(onlyIfOlderThan?: Date): Promise<{ kid: string; activatesAt: Date } | undefined> {
    const { publicKey, privateKey } = await generateKeyPair(algorithm, { extractable: true });
    const kid = crypto.randomUUID();
    const activation = await store.rotateSigningKey(
      { kid, alg: algorithm, publicJwk: await exportJWK(publicKey), privateJwk: await exportJWK(privateKey) },
      options.clock(),
      new Date(now() + options.activationDelaySeconds * 1000),
      onlyIfOlderThan,
    );
    loaded = undefined;
    if (!activation) return undefined;
    const activatesAt = activation;
    options.logger.info("signing key added", { kid, activatesAt: activatesAt.toISOString() });
    return { kid, activatesAt };
  }

  async function signingKey(): Promise<SigningKeyRow | undefined> {
    const signs = (row: SigningKeyRow) =>
      row.activatesAt.getTime() <= now() && (!row.retiredAt || row.retiredAt.getTime() > now());
    return (await rows()).findLast(signs);
  }

  /** Keys still needed to verify some unexpired token. */
  async function published(): Promise<{ keys: JWK[] }> {
    const window = (options.accessTokenTtlSeconds * 1000) + reloadAfterMs;
    const keys = (await rows())
      .filter((row) => !row.retiredAt || row.retiredAt.getTime() + window > now())
      .map((row) => ({ ...(row.publicJwk as JWK), kid: row.kid, alg: row.alg, use: "sig" }));
    return { keys };
  }

  return {
    /** Makes the first key, or a new one when the newest key is older than the rotation period. */
    async ensureCurrent(): Promise<void> {
      const newest = (await rows()).find((row) => !row.retiredAt);
      const cutoff = new Date(now() - options.rotationDays * 86_400_000);
      if (!newest || newest.createdAt < cutoff) await rotate(cutoff);
    },

    rotate: () => rotate(),

    published,

    async sign(claims: Record<string, unknown>, subject: string, ttlSeconds: number): Promise<string> {
      let active = await signingKey();
      if (!active) {
        loaded = undefined;
        active = await signingKey();
      }
      if (!active) throw new Error("no signing key is active; ensureCurrent() runs at start");
      let key = privateKeys.get(active.kid);
      if (!key) {
        key = importJWK(active.privateJwk as JWK, active.alg) as Promise<CryptoKey>;
        privateKeys.set(active.kid, key);
      }
      const issuedAt = Math.floor(now() / 1000);
      return await new SignJWT(claims)
        .setProtectedHeader({ alg: active.alg, kid: active.kid, typ: "at+jwt" })
        .setSubject(subject)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + ttlSeconds)
        .setJti(crypto.randomUUID())
        .sign(await key);
    },

    /** Verifies this identity's own tokens without a round trip to its JWKS endpoint. */
    verificationKeys:
      (async (header, token) => createLocalJWKSet(await published())(header, token)) as JWTVerifyGetKey,
  };
}

export type KeyRing = ReturnType<typeof createKeyRing>;
