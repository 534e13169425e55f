/**
 * The schema's own guard against overselling, under any query: the stock table refuses negative
 * counts and more reserved than on hand, on both PostgreSQL targets.
 */
import assert from "node:assert/strict";
import { createLogger } from "@multishop/kit/log";
import { loadMigrations, migrate } from "@multishop/kit/migrate";
import { connectPostgres } from "@multishop/kit/postgres";
import { postgresTargets } from "@multishop/kit/testing";

const checkViolation = (constraint: string) => (error: unknown) =>
  (error as { code?: string }).code === "23514" &&
  (error as { constraint_name?: string }).constraint_name === constraint;

for (const target of await postgresTargets()) {
  Deno.test(
    { name: `the stock table's checks on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) },
    async () => {
      const database = await target.open();
      const sql = connectPostgres(database.url, { max: 1, applicationName: "test" });
      try {
        await migrate(
          sql,
          await loadMigrations(new URL("../migrations/", import.meta.url)),
          createLogger("t", "silent"),
        );
        await sql`insert into stock (product_id, on_hand, reserved) values ('p', 5, 5)`;
        await assert.rejects(
          sql`update stock set reserved = reserved + 1 where product_id = 'p'`,
          checkViolation("stock_reserved_within_on_hand"),
        );
        await assert.rejects(
          sql`update stock set on_hand = on_hand - 1 where product_id = 'p'`,
          checkViolation("stock_reserved_within_on_hand"),
        );
        await assert.rejects(
          sql`update stock set on_hand = -1, reserved = 0 where product_id = 'p'`,
          checkViolation("stock_on_hand_check"),
        );
        await assert.rejects(
          sql`update stock set reserved = -1 where product_id = 'p'`,
          checkViolation("stock_reserved_check"),
        );
        const [row] = await sql`select on_hand, reserved from stock where product_id = 'p'`;
        assert.deepEqual({ ...row }, { on_hand: 5, reserved: 5 });
      } finally {
        await sql.end();
        await database.close();
      }
    },
  );
}
