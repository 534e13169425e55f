import assert from "node:assert/strict";
import { memoryLogger } from "./log.ts";
import { migrate, type Migration } from "./migrate.ts";
import { connectPostgres } from "./postgres.ts";
import { postgresTargets } from "./testing.ts";

const migrations: Migration[] = [
  { version: 1, name: "things", sql: "create table things (id serial primary key, name text not null);" },
  {
    version: 2,
    name: "seed",
    sql: "insert into things (name) values ('first'); alter table things add column note text;",
  },
];

for (const target of await postgresTargets()) {
  Deno.test({ name: `migrations on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) }, async (t) => {
    const database = await target.open();
    // Separate pools, as separate instances starting at once would have. PGlite serves one
    // connection, so there the four share it and still race for the lock in turn.
    const pools = Array.from(
      { length: database.maxConnections > 1 ? 4 : 1 },
      () => connectPostgres(database.url, { max: 1, applicationName: "test" }),
    );
    const pool = (i: number) => pools[i % pools.length];
    try {
      await t.step("applied exactly once when instances start at once", async () => {
        const applied = await Promise.all(
          [0, 1, 2, 3].map((i) => migrate(pool(i), migrations, memoryLogger())),
        );
        assert.deepEqual(applied.flat().sort(), [1, 2]);
        const [{ count }] = await pool(0)`select count(*)::int as count from things`;
        assert.equal(count, 1, "the seed ran once");
        const rows = await pool(0)`select version from schema_migrations order by version`;
        assert.deepEqual(rows.map((r) => r.version), [1, 2]);
      });

      await t.step("a later start applies only what is new", async () => {
        const next = [...migrations, {
          version: 3,
          name: "index",
          sql: "create index things_name on things (name);",
        }];
        assert.deepEqual(await migrate(pool(1), next, memoryLogger()), [3]);
        assert.deepEqual(await migrate(pool(2), next, memoryLogger()), []);
      });

      await t.step("an applied migration that changed refuses to start", async () => {
        const edited = [{ ...migrations[0], sql: "create table things (id bigint);" }];
        await assert.rejects(migrate(pool(3), edited, memoryLogger()), /changed after it was applied/);
      });

      await t.step("a failing migration leaves nothing half-applied", async () => {
        const broken = [...migrations, {
          version: 9,
          name: "broken",
          sql: "create table ok (id int); select nope;",
        }];
        await assert.rejects(migrate(pool(0), broken, memoryLogger()));
        const [{ exists }] = await pool(0)`select to_regclass('ok') is not null as exists`;
        assert.equal(exists, false);
      });
    } finally {
      await Promise.all(pools.map((sql) => sql.end()));
      await database.close();
    }
  });
}
