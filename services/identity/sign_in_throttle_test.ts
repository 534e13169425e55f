import assert from "node:assert/strict";
import { postgresTargets } from "@multishop/kit/testing";
import { passwordLogin, register, startTestIdentity, uniqueName } from "./test_support.ts";

const firstLockoutSeconds = 60;

/** What a client sees of a sign-in answer (Retry-After aside, which the clock decides). */
async function answerOf(attempt: ReturnType<typeof passwordLogin>) {
  const { response, body } = await attempt;
  return {
    status: response.status,
    error: body.error,
    description: body.error_description,
    locked: response.headers.has("retry-after"),
  };
}

for (const target of await postgresTargets()) {
  Deno.test(
    { name: `sign-in throttling on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) },
    async (t) => {
      const identity = await startTestIdentity(target, {
        SIGN_IN_LOCKOUT_AFTER_FAILURES: "5",
        SIGN_IN_FIRST_LOCKOUT_SECONDS: String(firstLockoutSeconds),
      });
      const base = identity.url;
      /** Each try from an address of its own: identity limits the account, wherever the tries come from. */
      const fromAddress = (i: number) => ({ "x-forwarded-for": `198.51.100.${i}` });

      try {
        const { account } = await register(base);

        await t.step("30 parallel wrong passwords from 30 addresses: 5 are checked, 25 refused", async () => {
          const answers = await Promise.all(
            Array.from(
              { length: 30 },
              (_, i) => passwordLogin(base, account.username, `wrong-${i}`, fromAddress(i)),
            ),
          );
          const refused = answers.filter(({ response }) => response.status === 429);
          const checked = answers.filter(({ response }) => response.status === 400);
          assert.equal(checked.length, 5);
          assert.equal(refused.length, 25);
          for (const { body } of checked) assert.equal(body.error, "invalid_grant");
          for (const { response, body } of refused) {
            assert.equal(body.error, "slow_down");
            assert.equal(response.headers.get("content-type"), "application/json");
            assert.equal(response.headers.get("cache-control"), "no-store");
            const retryAfter = Number(response.headers.get("retry-after"));
            assert.ok(retryAfter > 0 && retryAfter <= firstLockoutSeconds, `Retry-After ${retryAfter}`);
          }
        });

        await t.step("while locked, even the right password is refused", async () => {
          const { response, body } = await passwordLogin(base, account.username, account.password);
          assert.equal(response.status, 429);
          assert.equal(body.error, "slow_down");
        });

        await t.step("the email is the same account's other name and is counted on its own", async () => {
          // Counting names, not accounts, keeps the answers from telling which names share an account.
          const { response } = await passwordLogin(base, account.email, account.password);
          assert.equal(response.status, 200);
        });

        await t.step("after the lockout the owner signs in, which clears the count", async () => {
          identity.shiftClock((firstLockoutSeconds + 1) * 1000);
          const { response } = await passwordLogin(base, account.username.toUpperCase(), account.password);
          assert.equal(response.status, 200);
          // Four more failures cost nothing: the count started again from zero.
          for (let i = 0; i < 4; i++) {
            assert.equal((await passwordLogin(base, account.username, "wrong")).response.status, 400);
          }
          assert.equal((await passwordLogin(base, account.username, account.password)).response.status, 200);
          identity.shiftClock(0);
        });

        await t.step(
          "an unknown username is answered exactly like a known one, lockouts included",
          async () => {
            const known = (await register(base)).account.username;
            const unknown = uniqueName("nobody");
            const sequence = async (username: string) => {
              const answers = [];
              for (let i = 0; i < 7; i++) {
                answers.push(await answerOf(passwordLogin(base, username, `wrong-${i}`)));
              }
              return answers;
            };
            const knownAnswers = await sequence(known);
            assert.deepEqual(await sequence(unknown), knownAnswers);
            assert.deepEqual(knownAnswers.map((answer) => answer.status), [
              400,
              400,
              400,
              400,
              400,
              429,
              429,
            ]);
          },
        );

        await t.step("each failure after a lockout doubles the next one", async () => {
          const { account: other } = await register(base);
          for (let i = 0; i < 5; i++) await passwordLogin(base, other.username, "wrong");
          identity.shiftClock((firstLockoutSeconds + 1) * 1000);
          assert.equal((await passwordLogin(base, other.username, "wrong")).response.status, 400);
          const { response } = await passwordLogin(base, other.username, other.password);
          identity.shiftClock(0);
          assert.equal(response.status, 429);
          const retryAfter = Number(response.headers.get("retry-after"));
          assert.ok(
            retryAfter > firstLockoutSeconds && retryAfter <= 2 * firstLockoutSeconds,
            `Retry-After ${retryAfter}`,
          );
        });
      } finally {
        await identity.close();
      }
    },
  );
}
