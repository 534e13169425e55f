/**
 * Embedded PostgreSQL: PGlite (real PostgreSQL compiled to WebAssembly) served over the wire
 * protocol, so a service talks to it with the same postgres.js code it uses against a server.
 */
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export interface EmbeddedPostgres {
  url: string;
  /** PGlite serves one connection at a time; pools must not open more. */
  maxConnections: 1;
  stop(): Promise<void>;
}

/** Starts PGlite on a free loopback port; with `dataDir` its data persists across restarts. */
export async function startEmbeddedPostgres(options: { dataDir?: string } = {}): Promise<EmbeddedPostgres> {
  if (options.dataDir) await Deno.mkdir(options.dataDir, { recursive: true });
  const db = await PGlite.create(options.dataDir ? { dataDir: options.dataDir } : {});
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0 });
  await server.start();
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    maxConnections: 1,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

/**
 * A service's own database when it runs alone: the server at POSTGRES_URL, or embedded PGlite in
 * DATA_DIR/postgres/<service> when none is configured.
 */
export async function postgresFromConfig(
  config: { POSTGRES_URL?: string; POSTGRES_POOL_MAX: number; DATA_DIR: string },
  service: string,
): Promise<{ url: string; maxConnections: number; description: string; stop(): Promise<void> }> {
  if (config.POSTGRES_URL) {
    return {
      url: config.POSTGRES_URL,
      maxConnections: config.POSTGRES_POOL_MAX,
      description: "POSTGRES_URL",
      stop: () => Promise.resolve(),
    };
  }
  const dataDir = `${config.DATA_DIR}/postgres/${service}`;
  const embedded = await startEmbeddedPostgres({ dataDir });
  return { ...embedded, description: `embedded in ${dataDir}` };
}
