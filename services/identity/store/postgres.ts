/** Identity's PostgreSQL adapter: every query the service makes, and nothing else. */
import { isUniqueViolation, type Sql, type TransactionSql } from "@multishop/kit/postgres";
import type { Client, GrantType, RefreshTokenRecord } from "../domain/oauth.ts";
import type { AttemptDecision, SignInFailures } from "../domain/sign_in_throttle.ts";
import type { Role, User } from "../domain/users.ts";

export interface NewUser {
  id: string;
  username: string;
  email: string;
  name: string;
  surname: string;
  passwordHash: string;
  roles: Role[];
}

export interface SigningKeyRow {
  kid: string;
  alg: string;
  publicJwk: JsonWebKey;
  /** The private JWK sealed under SIGNING_KEY_ENCRYPTION_KEY; null only in a row from before sealing
   * that no start has sealed yet. */
  sealedPrivateKey: Uint8Array<ArrayBuffer> | null;
  createdAt: Date;
  activatesAt: Date;
  retiredAt: Date | null;
}

export class DuplicateUserError extends Error {
  constructor(readonly field: "username" | "email") {
    super(`${field} is taken`);
  }
}

interface UserRow {
  id: string;
  username: string;
  email: string;
  name: string;
  surname: string;
  roles: Role[];
  created_at: Date;
  updated_at: Date;
}

const toUser = (row: UserRow): User => ({
  id: row.id,
  username: row.username,
  email: row.email,
  name: row.name,
  surname: row.surname,
  roles: row.roles,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const userColumns = ["id", "username", "email", "name", "surname", "roles", "created_at", "updated_at"];

export function createIdentityStore(sql: Sql) {
  return {
    async insertUser(user: NewUser): Promise<User> {
      try {
        const [row] = await sql<UserRow[]>`
          insert into users (id, username, email, name, surname, password_hash, roles)
          values (${user.id}, ${user.username}, ${user.email}, ${user.name}, ${user.surname},
                  ${user.passwordHash}, ${user.roles})
          returning ${sql(userColumns)}`;
        return toUser(row);
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new DuplicateUserError(error.constraint_name === "users_email_key" ? "email" : "username");
        }
        throw error;
      }
    },

    async findLogin(login: string): Promise<(User & { passwordHash: string }) | undefined> {
      const [row] = await sql<(UserRow & { password_hash: string })[]>`
        select ${sql(userColumns)}, password_hash from users
        where lower(username) = lower(${login}) or lower(email) = lower(${login})
        limit 1`;
      return row ? { ...toUser(row), passwordHash: row.password_hash } : undefined;
    },

    async findUser(id: string): Promise<User | undefined> {
      const [row] = await sql<UserRow[]>`select ${sql(userColumns)} from users where id = ${id}`;
      return row ? toUser(row) : undefined;
    },

    async listUsers(options: { limit: number; after?: { createdAt: Date; id: string }; query?: string }) {
      const pattern = options.query ? `%${options.query.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined;
      const rows = await sql<UserRow[]>`
        select ${sql(userColumns)} from users
        where true
          ${
        pattern
          ? sql`and (username ilike ${pattern} or email ilike ${pattern}
                               or name ilike ${pattern} or surname ilike ${pattern})`
          : sql``
      }
          ${
        options.after ? sql`and (created_at, id) > (${options.after.createdAt}, ${options.after.id})` : sql``
      }
        order by created_at, id
        limit ${options.limit}`;
      const [{ total }] = await sql<{ total: number }[]>`
        select count(*)::int as total from users
        ${
        pattern
          ? sql`where username ilike ${pattern} or email ilike ${pattern}
                          or name ilike ${pattern} or surname ilike ${pattern}`
          : sql``
      }`;
      return { users: rows.map(toUser), total };
    },

    async countUsers(): Promise<number> {
      const [{ count }] = await sql<{ count: number }[]>`select count(*)::int as count from users`;
      return count;
    },

    async setRoles(id: string, roles: Role[]): Promise<User | undefined> {
      const [row] = await sql<UserRow[]>`
        update users set roles = ${roles}, updated_at = now() where id = ${id}
        returning ${sql(userColumns)}`;
      return row ? toUser(row) : undefined;
    },

    /** Makes sure the bootstrap admin exists and is an admin; an existing password is left alone. */
    async ensureAdmin(user: NewUser): Promise<"created" | "promoted" | "unchanged"> {
      return await sql.begin(async (tx) => {
        const [existing] = await tx<{ id: string; roles: Role[] }[]>`
          select id, roles from users where lower(email) = lower(${user.email}) for update`;
        if (!existing) {
          await tx`insert into users (id, username, email, name, surname, password_hash, roles)
                   values (${user.id}, ${user.username}, ${user.email}, ${user.name}, ${user.surname},
                           ${user.passwordHash}, ${user.roles})
                   on conflict do nothing`;
          return "created";
        }
        if (existing.roles.includes("admin")) return "unchanged";
        await tx`update users set roles = array_append(roles, 'admin'), updated_at = now() where id = ${existing.id}`;
        return "promoted";
      });
    },

    async upsertClient(client: Client): Promise<void> {
      await sql`
        insert into clients (id, name, secret_hash, grant_types, scopes)
        values (${client.id}, ${client.name}, ${client.secretHash}, ${client.grantTypes}, ${client.scopes})
        on conflict (id) do update set name = excluded.name, secret_hash = excluded.secret_hash,
          grant_types = excluded.grant_types, scopes = excluded.scopes`;
    },

    async findClient(id: string): Promise<Client | undefined> {
      const [row] = await sql<
        { id: string; name: string; secret_hash: string | null; grant_types: GrantType[]; scopes: string[] }[]
      >`select id, name, secret_hash, grant_types, scopes from clients where id = ${id}`;
      return row
        ? {
          id: row.id,
          name: row.name,
          secretHash: row.secret_hash,
          grantTypes: row.grant_types,
          scopes: row.scopes,
        }
        : undefined;
    },

    async insertRefreshToken(
      token: {
        id: string;
        hash: string;
        familyId: string;
        userId: string;
        clientId: string;
        expiresAt: Date;
      },
    ) {
      await sql`
        insert into refresh_tokens (id, token_hash, family_id, user_id, client_id, expires_at)
        values (${token.id}, ${token.hash}, ${token.familyId}, ${token.userId}, ${token.clientId}, ${token.expiresAt})`;
    },

    /**
     * Runs `decide` on the presented token with its row locked, so that two refreshes racing with
     * the same token are judged one after the other.
     */
    async withRefreshToken<T>(
      hash: string,
      decide: (token: RefreshTokenRecord | undefined, tx: RefreshTokenTransaction) => Promise<T>,
    ): Promise<T> {
      return (await sql.begin(async (tx) => {
        const [row] = await tx<
          {
            id: string;
            family_id: string;
            user_id: string;
            client_id: string;
            expires_at: Date;
            rotated_at: Date | null;
            revoked_at: Date | null;
          }[]
        >`select id, family_id, user_id, client_id, expires_at, rotated_at, revoked_at
          from refresh_tokens where token_hash = ${hash} for update`;
        const record = row && {
          id: row.id,
          familyId: row.family_id,
          userId: row.user_id,
          clientId: row.client_id,
          expiresAt: row.expires_at,
          rotatedAt: row.rotated_at,
          revokedAt: row.revoked_at,
        };
        return await decide(record, {
          findUser: async (id) => {
            const [user] = await tx<UserRow[]>`select ${tx(userColumns)} from users where id = ${id}`;
            return user ? toUser(user) : undefined;
          },
          markRotated: async (id, at) => {
            await tx`update refresh_tokens set rotated_at = ${at} where id = ${id}`;
          },
          revokeFamily: async (familyId, at) => {
            await tx`update refresh_tokens set revoked_at = ${at} where family_id = ${familyId} and revoked_at is null`;
          },
          insert: async (token) => {
            await tx`
              insert into refresh_tokens (id, token_hash, family_id, user_id, client_id, expires_at)
              values (${token.id}, ${token.hash}, ${token.familyId}, ${token.userId}, ${token.clientId},
                      ${token.expiresAt})`;
          },
        });
      })) as T;
    },

    async signingKeys(): Promise<SigningKeyRow[]> {
      const rows = await sql<
        {
          kid: string;
          alg: string;
          public_jwk: JsonWebKey;
          private_key_sealed: Uint8Array<ArrayBuffer> | null;
          created_at: Date;
          activates_at: Date;
          retired_at: Date | null;
        }[]
      >`select kid, alg, public_jwk, private_key_sealed, created_at, activates_at, retired_at
        from signing_keys order by activates_at`;
      return rows.map((row) => ({
        kid: row.kid,
        alg: row.alg,
        publicJwk: row.public_jwk,
        sealedPrivateKey: row.private_key_sealed,
        createdAt: row.created_at,
        activatesAt: row.activates_at,
        retiredAt: row.retired_at,
      }));
    },

    /**
     * Adds a key that signs from `activatesAt` on, when the current key retires, and returns when it
     * activates. With `onlyIfOlderThan`, nothing happens when the newest key is younger: two instances
     * rotating at once make one new key.
     */
    async rotateSigningKey(
      key: { kid: string; alg: string; publicJwk: JsonWebKey; sealedPrivateKey: Uint8Array },
      at: Date,
      activatesAt: Date,
      onlyIfOlderThan?: Date,
    ): Promise<Date | undefined> {
      return await sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(hashtext('identity.signing_keys'))`;
        const [current] = await tx<{ kid: string; created_at: Date }[]>`
          select kid, created_at from signing_keys where retired_at is null`;
        if (onlyIfOlderThan && current && current.created_at > onlyIfOlderThan) return undefined;
        // The very first key has no predecessor to wait for.
        const activation = current ? activatesAt : at;
        if (current) await tx`update signing_keys set retired_at = ${activation} where kid = ${current.kid}`;
        await tx`insert into signing_keys (kid, alg, public_jwk, private_key_sealed, created_at, activates_at)
                 values (${key.kid}, ${key.alg}, ${tx.json(key.publicJwk as never)}, ${key.sealedPrivateKey},
                         ${at}, ${activation})`;
        return activation;
      });
    },

    /** Private keys stored in clear by versions before sealing (migration 003). */
    async clearPrivateKeys(): Promise<{ kid: string; privateJwk: JsonWebKey }[]> {
      const rows = await sql<{ kid: string; private_jwk: JsonWebKey }[]>`
        select kid, private_jwk from signing_keys where private_jwk is not null`;
      return rows.map((row) => ({ kid: row.kid, privateJwk: row.private_jwk }));
    },

    /** Replaces a clear private key by its sealed form; an instance that got there first wins. */
    async storeSealedPrivateKey(kid: string, sealedPrivateKey: Uint8Array): Promise<void> {
      await sql`update signing_keys set private_key_sealed = ${sealedPrivateKey}, private_jwk = null
                where kid = ${kid} and private_jwk is not null`;
    },

    /**
     * Decides a sign-in attempt on `login` with that name's failures locked, so that racing attempts
     * are decided one after the other, and stores the failures of an admitted attempt.
     */
    async withSignInFailures(
      login: string,
      decide: (previous: SignInFailures | undefined) => AttemptDecision,
    ): Promise<AttemptDecision> {
      return (await sql.begin(async (tx) => {
        // A name tried for the first time has no row to lock yet: make one that records nothing.
        await tx`insert into sign_in_failures (login_hash, failures, last_failure_at)
                 values (${loginHash(tx, login)}, 0, now()) on conflict do nothing`;
        const [row] = await tx<{ failures: number; last_failure_at: Date; locked_until: Date | null }[]>`
          select failures, last_failure_at, locked_until from sign_in_failures
          where login_hash = ${loginHash(tx, login)} for update`;
        const decision = decide(
          row.failures === 0
            ? undefined
            : { count: row.failures, lastFailureAt: row.last_failure_at, lockedUntil: row.locked_until },
        );
        if (decision.admitted) {
          await tx`update sign_in_failures
                   set failures = ${decision.failures.count}, last_failure_at = ${decision.failures.lastFailureAt},
                       locked_until = ${decision.failures.lockedUntil}
                   where login_hash = ${loginHash(tx, login)}`;
        }
        return decision;
      })) as AttemptDecision;
    },

    /** A successful sign-in forgets the name's failures. */
    async clearSignInFailures(login: string): Promise<void> {
      await sql`delete from sign_in_failures where login_hash = ${loginHash(sql, login)}`;
    },

    /** Forgets the names whose last failure is older than `before` (unknown names pile up otherwise). */
    async forgetSignInFailuresBefore(before: Date): Promise<void> {
      await sql`delete from sign_in_failures where last_failure_at < ${before}`;
    },

    ping: () => sql`select 1`,
  };
}

/** The key of a login name's failures: see migration 002. */
const loginHash = (sql: Sql | TransactionSql, login: string) =>
  sql`sha256(convert_to(lower(${login}), 'UTF8'))`;

/** What may happen while a refresh token's row is locked; it all runs on the locking connection. */
export interface RefreshTokenTransaction {
  findUser(id: string): Promise<User | undefined>;
  markRotated(id: string, at: Date): Promise<void>;
  revokeFamily(familyId: string, at: Date): Promise<void>;
  insert(
    token: { id: string; hash: string; familyId: string; userId: string; clientId: string; expiresAt: Date },
  ): Promise<void>;
}

export type IdentityStore = ReturnType<typeof createIdentityStore>;
