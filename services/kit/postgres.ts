/** PostgreSQL access through postgres.js, one pool per service. */
import postgres from "postgres";

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;

export function connectPostgres(url: string, options: { max: number; applicationName: string }): Sql {
  return postgres(url, {
    max: options.max,
    connection: { application_name: options.applicationName },
    onnotice: () => {},
    // Idle connections go back so that a stopped instance does not hold the server's slots.
    idle_timeout: 30,
    connect_timeout: 10,
  });
}

/** Creates the database named in `url` when it is missing, connecting through the server's `postgres` database. */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name || name === "postgres") return;
  const maintenance = new URL(url);
  maintenance.pathname = "/postgres";
  const sql = postgres(maintenance.toString(), { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`select 1 as found from pg_database where datname = ${name}`;
    if (!row) await sql`create database ${sql(name)}`.catch(ignoreDuplicateDatabase);
  } finally {
    await sql.end();
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const maintenance = new URL(url);
  maintenance.pathname = "/postgres";
  const sql = postgres(maintenance.toString(), { max: 1, onnotice: () => {} });
  try {
    await sql`drop database if exists ${sql(name)} with (force)`;
  } finally {
    await sql.end();
  }
}

/**
 * The URL of a service's own database on a shared server: same credentials, database
 * `<prefix>_<service>` (`multishop_order`).
 */
export function serviceDatabaseUrl(serverUrl: string, service: string, prefix = "multishop"): string {
  const url = new URL(serverUrl);
  url.pathname = `/${prefix}_${service}`;
  return url.toString();
}

function ignoreDuplicateDatabase(error: unknown) {
  // Two instances starting at once may both see the database missing; one create wins.
  if ((error as { code?: string }).code !== "42P04") throw error;
}

export function isUniqueViolation(error: unknown): error is { code: string; constraint_name?: string } {
  return (error as { code?: string })?.code === "23505";
}
