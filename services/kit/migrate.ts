/**
 * Forward-only SQL migrations applied at start. Files are `NNN_name.sql` in a service's
 * `migrations/` folder. An advisory lock serialises instances that start at once, and a checksum
 * catches a migration edited after it was applied.
 */
import { sha256Hex } from "./digest.ts";
import type { Logger } from "./log.ts";
import { connectPostgres, type Sql } from "./postgres.ts";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

// Any constant works: the lock is per database and every service has its own database.
const migrationLockKey = 7_310_955_021;

export async function loadMigrations(folder: URL): Promise<Migration[]> {
  const migrations: Migration[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (!entry.isFile || !entry.name.endsWith(".sql")) continue;
    const match = /^(\d+)_([\w-]+)\.sql$/.exec(entry.name);
    if (!match) throw new Error(`migration file ${entry.name} must be named NNN_name.sql`);
    migrations.push({
      version: Number(match[1]),
      name: match[2],
      sql: await Deno.readTextFile(new URL(entry.name, folder)),
    });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i].version === migrations[i - 1].version) {
      throw new Error(`two migrations share version ${migrations[i].version}`);
    }
  }
  return migrations;
}

/** Applies what is missing, in one transaction, and returns the versions it applied. */
export async function migrate(sql: Sql, migrations: Migration[], logger: Logger): Promise<number[]> {
  return await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${migrationLockKey})`;
    await tx`create table if not exists schema_migrations (
      version integer primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`;
    const applied = new Map(
      (await tx<{ version: number; checksum: string }[]>`select version, checksum from schema_migrations`)
        .map((row) => [row.version, row.checksum]),
    );
    const done: number[] = [];
    // In version order, whatever order they were given in (a service's own, then the kit's).
    for (const migration of migrations.toSorted((a, b) => a.version - b.version)) {
      const checksum = await sha256Hex(migration.sql);
      const previous = applied.get(migration.version);
      if (previous !== undefined) {
        if (previous !== checksum) {
          throw new Error(
            `migration ${migration.version}_${migration.name} changed after it was applied; add a new migration instead`,
          );
        }
        continue;
      }
      await tx.unsafe(migration.sql).simple();
      await tx`insert into schema_migrations (version, name, checksum)
               values (${migration.version}, ${migration.name}, ${checksum})`;
      logger.info("migration applied", { version: migration.version, name: migration.name });
      done.push(migration.version);
    }
    return done;
  });
}

/**
 * A service's pool with its schema up to date: the migrations in `folder` applied, and `extra` ones the
 * kit adds (the outbox's, the inbox's). The pool is closed again when they fail.
 */
export async function openMigratedPostgres(
  postgres: { url: string; maxConnections: number },
  options: { service: string; folder: URL; extra?: Migration[]; logger: Logger },
): Promise<Sql> {
  const sql = connectPostgres(postgres.url, {
    max: postgres.maxConnections,
    applicationName: options.service,
  });
  try {
    await migrate(sql, [...await loadMigrations(options.folder), ...options.extra ?? []], options.logger);
    return sql;
  } catch (error) {
    await sql.end({ timeout: 5 });
    throw error;
  }
}
