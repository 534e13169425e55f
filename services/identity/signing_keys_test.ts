import assert from "node:assert/strict";
import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from "jose";
import { ConfigError } from "@multishop/kit/config";
import { createLogger } from "@multishop/kit/log";
import { loadMigrations, migrate } from "@multishop/kit/migrate";
import { connectPostgres } from "@multishop/kit/postgres";
import { postgresTargets, type TestDatabase } from "@multishop/kit/testing";
import { loadIdentityConfig } from "./config.ts";
import {
  newEncryptionKey,
  passwordLogin,
  startTestIdentityOn,
  testAdmin,
  testIssuer,
} from "./test_support.ts";

/** Reads identity's database directly, with identity stopped (the embedded server takes one connection). */
async function query<T>(
  database: TestDatabase,
  run: (sql: ReturnType<typeof connectPostgres>) => Promise<T>,
) {
  const sql = connectPostgres(database.url, { max: 1, applicationName: "identity-test" });
  try {
    return await run(sql);
  } finally {
    await sql.end();
  }
}

interface StoredKey {
  kid: string;
  private_jwk: unknown;
  private_key_sealed: Uint8Array | null;
}

const storedKeys = (database: TestDatabase) =>
  query(database, (sql) => sql<StoredKey[]>`select kid, private_jwk, private_key_sealed from signing_keys`);

function assertSealed(keys: StoredKey[]) {
  assert.ok(keys.length > 0);
  for (const key of keys) {
    assert.equal(key.private_jwk, null, `${key.kid} keeps no clear JWK`);
    assert.ok(key.private_key_sealed && key.private_key_sealed.length > 12 + 16);
    const bytes = new TextDecoder().decode(key.private_key_sealed);
    assert.ok(!bytes.includes('"d"') && !bytes.includes("ES256"), `${key.kid}'s sealed form shows no JWK`);
  }
}

async function signIn(base: string) {
  const { response, body } = await passwordLogin(base, testAdmin.email, testAdmin.password);
  assert.equal(response.status, 200);
  return body.access_token as string;
}

async function verifiedKid(base: string, accessToken: string) {
  const jwks = await (await fetch(`${base}/.well-known/jwks.json`)).json();
  const { protectedHeader } = await jwtVerify(accessToken, createLocalJWKSet(jwks), { issuer: testIssuer });
  return protectedHeader.kid;
}

Deno.test("without SIGNING_KEY_ENCRYPTION_KEY identity refuses to start, saying how to make one", () => {
  assert.throws(() => loadIdentityConfig({}), (error: Error) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /SIGNING_KEY_ENCRYPTION_KEY: is required/);
    assert.match(error.message, /openssl rand -base64 32/);
    return true;
  });
});

Deno.test("a malformed SIGNING_KEY_ENCRYPTION_KEY is refused without printing it", () => {
  for (const malformed of ["too-short-secret-value", btoa("16 bytes only!!!"), "x".repeat(43) + "=="]) {
    assert.throws(() => loadIdentityConfig({ SIGNING_KEY_ENCRYPTION_KEY: malformed }), (error: Error) => {
      assert.match(error.message, /SIGNING_KEY_ENCRYPTION_KEY must be 32 bytes in base64 or base64url/);
      assert.ok(!error.message.includes(malformed));
      return true;
    });
  }
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const base64 = btoa(String.fromCharCode(...raw));
  const base64Url = base64.replaceAll("+", "-").replaceAll("/", "_").replace(/=$/, "");
  for (const encoded of [base64, base64Url]) {
    assert.deepEqual(
      loadIdentityConfig({ SIGNING_KEY_ENCRYPTION_KEY: encoded }).SIGNING_KEY_ENCRYPTION_KEY,
      raw,
    );
  }
});

for (const target of await postgresTargets()) {
  Deno.test({
    name: `signing keys sealed at rest on ${target.name} PostgreSQL`,
    ignore: Boolean(target.skip),
  }, async (t) => {
    const database = await target.open();
    const rightKey = newEncryptionKey();
    try {
      let firstToken = "";
      let firstKid: string | undefined;

      await t.step("the stored private keys are sealed: no JWK in clear", async () => {
        const identity = await startTestIdentityOn(database, { SIGNING_KEY_ENCRYPTION_KEY: rightKey });
        try {
          firstToken = await signIn(identity.url);
          firstKid = await verifiedKid(identity.url, firstToken);
        } finally {
          await identity.close();
        }
        assertSealed(await storedKeys(database));
      });

      await t.step("with another key identity refuses to start, naming the variable", async () => {
        await assert.rejects(
          startTestIdentityOn(database, { SIGNING_KEY_ENCRYPTION_KEY: newEncryptionKey() }),
          (error: Error) => {
            assert.ok(error instanceof ConfigError);
            assert.match(
              error.message,
              /SIGNING_KEY_ENCRYPTION_KEY: does not open signing key .* in identity's database/,
            );
            return true;
          },
        );
        assert.equal((await storedKeys(database)).length, 1, "no key was made under the wrong key");
      });

      await t.step("with the right key the keys survive a restart", async () => {
        const identity = await startTestIdentityOn(database, { SIGNING_KEY_ENCRYPTION_KEY: rightKey });
        try {
          assert.equal(
            await verifiedKid(identity.url, firstToken),
            firstKid,
            "tokens from before still verify",
          );
          const token = await signIn(identity.url);
          assert.equal(decodeProtectedHeader(token).kid, firstKid, "the same key signs");
          assert.equal(await verifiedKid(identity.url, token), firstKid);
        } finally {
          await identity.close();
        }
      });
    } finally {
      await database.close();
    }
  });

  Deno.test({
    name: `clear keys from before sealing are sealed at start on ${target.name} PostgreSQL`,
    ignore: Boolean(target.skip),
  }, async () => {
    const database = await target.open();
    try {
      // The database as the version before sealing left it: its first migration and a key in clear.
      const legacyKid = crypto.randomUUID();
      await query(database, async (sql) => {
        const [initial] = await loadMigrations(new URL("./migrations/", import.meta.url));
        await migrate(sql, [initial], createLogger("identity", "silent"));
        const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
        await sql`insert into signing_keys (kid, alg, public_jwk, private_jwk, created_at, activates_at)
                  values (${legacyKid}, 'ES256', ${sql.json((await exportJWK(publicKey)) as never)},
                          ${
          sql.json((await exportJWK(privateKey)) as never)
        }, now(), now() - interval '1 hour')`;
      });

      const identity = await startTestIdentityOn(database, {
        SIGNING_KEY_ENCRYPTION_KEY: newEncryptionKey(),
      });
      try {
        const token = await signIn(identity.url);
        assert.equal(await verifiedKid(identity.url, token), legacyKid, "the old key goes on signing");
      } finally {
        await identity.close();
      }
      const keys = await storedKeys(database);
      assert.deepEqual(keys.map((key) => key.kid), [legacyKid]);
      assertSealed(keys);
    } finally {
      await database.close();
    }
  });
}
