/**
 * The signing keys: one ES256 key signs access tokens at a time. A new key is published for a while
 * before it signs (verifiers that cached the key set refetch it in time), and a retired key stays
 * published until every token it signed has expired. Keys live in the database so that every
 * instance signs with, and publishes, the same set; their private halves are sealed there (AES-256-GCM
 * under SIGNING_KEY_ENCRYPTION_KEY, which only the instances hold), so a copy of the database alone
 * cannot sign tokens.
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
import { ConfigError } from "@multishop/kit/config";
import type { Logger } from "@multishop/kit/log";
import type { IdentityStore, SigningKeyRow } from "./store/postgres.ts";

const algorithm = "ES256";
// Another instance may rotate; this is how stale an instance's view of the keys can be.
const reloadAfterMs = 60_000;

export interface KeyRingOptions {
  /** From importSealingKey: seals and unseals the private keys the store holds. */
  sealingKey: CryptoKey;
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
      {
        kid,
        alg: algorithm,
        publicJwk: await exportJWK(publicKey),
        sealedPrivateKey: await sealPrivateKey(options.sealingKey, kid, await exportJWK(privateKey)),
      },
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

  function privateKey(row: SigningKeyRow): Promise<CryptoKey> {
    let key = privateKeys.get(row.kid);
    if (!key) {
      key = unsealPrivateKey(options.sealingKey, row).then((jwk) =>
        importJWK(jwk, row.alg) as Promise<CryptoKey>
      );
      privateKeys.set(row.kid, key);
    }
    return key;
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
    /**
     * Runs at start, before any key is made: seals the private keys that versions before sealing
     * stored in clear, then opens every stored key, so that a wrong SIGNING_KEY_ENCRYPTION_KEY stops
     * the start (rather than the first sign-in, or a new key sealed under it).
     */
    async openStoredKeys(): Promise<void> {
      for (const { kid, privateJwk } of await store.clearPrivateKeys()) {
        await store.storeSealedPrivateKey(kid, await sealPrivateKey(options.sealingKey, kid, privateJwk));
        options.logger.info("stored signing key sealed", { kid });
      }
      loaded = undefined;
      for (const row of await rows()) {
        try {
          await privateKey(row);
        } catch (error) {
          if (!(error instanceof UnsealError)) throw error;
          throw new ConfigError([
            `SIGNING_KEY_ENCRYPTION_KEY: does not open signing key ${row.kid} in identity's database; it is not the ` +
            "key the signing keys were sealed with. Start identity with that key. If it is lost, delete the rows of " +
            "the signing_keys table and identity makes a new signing key (access tokens signed so far stop " +
            "verifying; clients get new ones with their refresh tokens).",
          ]);
        }
      }
    },

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
      const issuedAt = Math.floor(now() / 1000);
      return await new SignJWT(claims)
        .setProtectedHeader({ alg: active.alg, kid: active.kid, typ: "at+jwt" })
        .setSubject(subject)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + ttlSeconds)
        .setJti(crypto.randomUUID())
        .sign(await privateKey(active));
    },

    /** Verifies this identity's own tokens without a round trip to its JWKS endpoint. */
    verificationKeys:
      (async (header, token) => createLocalJWKSet(await published())(header, token)) as JWTVerifyGetKey,
  };
}

export type KeyRing = ReturnType<typeof createKeyRing>;

/** SIGNING_KEY_ENCRYPTION_KEY (32 bytes) as an AES-256-GCM key that can seal and unseal, never be exported. */
export function importSealingKey(raw: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

const nonceBytes = 12;
const text = new TextEncoder();

/**
 * The private JWK encrypted with a fresh random nonce, which is stored in front of the ciphertext. The
 * key id is authenticated with it, so a sealed key copied onto another row does not open there.
 */
async function sealPrivateKey(
  sealingKey: CryptoKey,
  kid: string,
  jwk: JsonWebKey,
): Promise<Uint8Array<ArrayBuffer>> {
  const nonce = crypto.getRandomValues(new Uint8Array(nonceBytes));
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: text.encode(kid) },
    sealingKey,
    text.encode(JSON.stringify(jwk)),
  );
  const sealed = new Uint8Array(nonceBytes + ciphertext.byteLength);
  sealed.set(nonce);
  sealed.set(new Uint8Array(ciphertext), nonceBytes);
  return sealed;
}

/** A sealed private key that the sealing key at hand does not open. */
class UnsealError extends Error {
  constructor(kid: string) {
    super(`signing key ${kid} does not open with this SIGNING_KEY_ENCRYPTION_KEY`);
    this.name = "UnsealError";
  }
}

async function unsealPrivateKey(sealingKey: CryptoKey, row: SigningKeyRow): Promise<JWK> {
  if (!row.sealedPrivateKey) {
    throw new Error(`signing key ${row.kid} is not sealed yet; restart identity to seal it`);
  }
  const sealed = row.sealedPrivateKey;
  let plaintext: ArrayBuffer;
  try {
    plaintext = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: sealed.subarray(0, nonceBytes), additionalData: text.encode(row.kid) },
      sealingKey,
      sealed.subarray(nonceBytes),
    );
  } catch {
    throw new UnsealError(row.kid);
  }
  return JSON.parse(new TextDecoder().decode(plaintext));
}
