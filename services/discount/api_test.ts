/** The discount service through HTTP, as admins and the basket use it, on both PostgreSQL targets. */
import assert from "node:assert/strict";
import { couponValidationPath, couponValidationScope } from "@multishop/kit/contracts/discount";
import { call as callService, type CallOptions, postgresTargets } from "@multishop/kit/testing";
import { seedCoupons } from "./seed.ts";
import { couponBody, startTestDiscount, usd } from "./test_support.ts";

const missingId = "00000000-0000-4000-8000-000000000000";
const editableFields = [
  "code",
  "type",
  "value",
  "minTotal",
  "validFrom",
  "validUntil",
  "usageLimit",
  "perUserLimit",
  "active",
];

for (const target of await postgresTargets()) {
  Deno.test(
    { name: `discount API on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) },
    async (t) => {
      const service = await startTestDiscount(target);
      const { tokens } = service;
      const admin = await tokens.admin();
      const customer = await tokens.customer();
      const basket = await tokens.client("basket", [couponValidationScope, "catalog:read"]);
      const otherService = await tokens.client("catalog", ["catalog:read"]);

      const call = (method: string, path: string, options: CallOptions = {}) =>
        callService(service.url, method, path, options);
      const asAdmin = (method: string, path: string, body?: unknown) =>
        call(method, path, { token: admin, body });
      const create = async (overrides: Parameters<typeof couponBody>[0] = {}) => {
        const response = await asAdmin("POST", "/v1/coupons", couponBody(overrides));
        assert.equal(response.status, 201, JSON.stringify(response.body));
        return response.body;
      };
      const validate = (body: unknown, token = basket) => call("POST", couponValidationPath, { token, body });
      const check = async (code: string, subtotal = usd(10_000), userId = "shopper") => {
        const response = await validate({ code, userId, subtotal });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        return response.body;
      };

      try {
        await t.step("readiness checks PostgreSQL", async () => {
          const ready = await call("GET", "/health/ready");
          assert.equal(ready.status, 200);
          assert.deepEqual(ready.body.checks, { postgres: "ok" });
        });

        await t.step("every admin route: 401 without a token, 403 for a customer or a service", async () => {
          const routes: [string, string, unknown?][] = [
            ["POST", "/v1/coupons", couponBody()],
            ["GET", "/v1/coupons"],
            ["GET", "/v1/coupons/count"],
            ["GET", `/v1/coupons/${missingId}`],
            ["PUT", `/v1/coupons/${missingId}`, couponBody()],
            ["DELETE", `/v1/coupons/${missingId}`],
          ];
          for (const [method, path, body] of routes) {
            const anonymous = await call(method, path, { body });
            assert.equal(anonymous.status, 401, `${method} ${path}`);
            assert.equal(anonymous.headers.get("content-type"), "application/problem+json");
            assert.equal(anonymous.headers.get("www-authenticate"), "Bearer");
            assert.equal(
              (await call(method, path, { token: customer, body })).status,
              403,
              `${method} ${path}`,
            );
            assert.equal(
              (await call(method, path, { token: basket, body })).status,
              403,
              `${method} ${path}`,
            );
          }
          assert.equal((await asAdmin("GET", "/v1/coupons/count")).body.total, 0, "nothing was created");
        });

        await t.step("create: 201 with Location, the code upper-case, absent limits null", async () => {
          const created = await asAdmin("POST", "/v1/coupons", {
            code: "Summer_Sale-24",
            type: "percentage",
            value: 25,
            minTotal: 2_000,
            validFrom: "2026-06-01T00:00:00+02:00",
            active: true,
          });
          assert.equal(created.status, 201);
          assert.equal(created.headers.get("location"), `/v1/coupons/${created.body.id}`);
          const { id, createdAt, updatedAt, ...rest } = created.body;
          assert.match(id, /^[0-9a-f-]{36}$/);
          assert.ok(Date.parse(createdAt) && Date.parse(updatedAt));
          assert.deepEqual(rest, {
            code: "SUMMER_SALE-24",
            type: "percentage",
            value: 25,
            currency: "USD",
            minTotal: 2_000,
            validFrom: "2026-05-31T22:00:00.000Z",
            validUntil: null,
            usageLimit: null,
            perUserLimit: null,
            active: true,
            used: 0,
          });
          const read = await asAdmin("GET", created.headers.get("location")!);
          assert.equal(read.status, 200);
          assert.deepEqual(read.body, created.body);
        });

        await t.step("codes are unique regardless of case: 409 on create and on rename", async () => {
          const first = await create({ code: "UNIQUE-ONE" });
          const clash = await asAdmin("POST", "/v1/coupons", couponBody({ code: "unique-one" }));
          assert.equal(clash.status, 409);
          assert.deepEqual(clash.body.errors.map((e: { field: string }) => e.field), ["code"]);
          const second = await create();
          const rename = await asAdmin("PUT", `/v1/coupons/${second.id}`, couponBody({ code: "Unique-One" }));
          assert.equal(rename.status, 409);
          assert.equal((await asAdmin("GET", `/v1/coupons/${first.id}`)).body.code, "UNIQUE-ONE");
        });

        await t.step("PUT replaces every editable field; what is left out is removed", async () => {
          const coupon = await create({ minTotal: 1_000, usageLimit: 5, perUserLimit: 1 });
          const replaced = await asAdmin("PUT", `/v1/coupons/${coupon.id}`, {
            code: coupon.code.toLowerCase(),
            type: "fixed",
            value: 1_500,
            validUntil: "2030-01-01T00:00:00Z",
            active: false,
          });
          assert.equal(replaced.status, 200);
          assert.equal(replaced.body.id, coupon.id);
          assert.equal(replaced.body.code, coupon.code, "its own code, in another case, is no clash");
          assert.deepEqual(
            [replaced.body.type, replaced.body.value, replaced.body.minTotal, replaced.body.usageLimit],
            ["fixed", 1_500, null, null],
          );
          assert.equal(replaced.body.perUserLimit, null);
          assert.equal(replaced.body.validUntil, "2030-01-01T00:00:00.000Z");
          assert.equal(replaced.body.active, false);
          assert.equal(replaced.body.createdAt, coupon.createdAt);
          assert.equal((await asAdmin("PUT", `/v1/coupons/${missingId}`, couponBody())).status, 404);
        });

        await t.step("DELETE: 204, then 404; an unknown id 404, a malformed one 400", async () => {
          const coupon = await create();
          const deleted = await asAdmin("DELETE", `/v1/coupons/${coupon.id}`);
          assert.equal(deleted.status, 204);
          assert.equal(deleted.body, undefined);
          assert.equal((await asAdmin("GET", `/v1/coupons/${coupon.id}`)).status, 404);
          assert.equal((await asAdmin("DELETE", `/v1/coupons/${coupon.id}`)).status, 404);
          const malformed = await asAdmin("GET", "/v1/coupons/not-an-id");
          assert.equal(malformed.status, 400);
          assert.deepEqual(malformed.body.errors, [{ field: "path.id", reason: "must be a coupon id" }]);
        });

        await t.step(
          "a coupon a confirmed order used cannot be deleted: 409; deactivating works",
          async () => {
            const coupon = await create({ usageLimit: 3 });
            const reserved = await service.discount.reserve({
              orderId: "order-deleting-1",
              code: coupon.code,
              userId: "u1",
              subtotal: usd(1_000),
            });
            await service.discount.commit(reserved.orderId);
            assert.equal((await asAdmin("GET", `/v1/coupons/${coupon.id}`)).body.used, 1);
            const refused = await asAdmin("DELETE", `/v1/coupons/${coupon.id}`);
            assert.equal(refused.status, 409);
            assert.match(refused.body.detail, /deactivate it instead/);
            // What GET shows round-trips through PUT, nulls included.
            const editable = Object.fromEntries(editableFields.map((field) => [field, coupon[field]]));
            const off = await asAdmin("PUT", `/v1/coupons/${coupon.id}`, { ...editable, active: false });
            assert.equal(off.status, 200, JSON.stringify(off.body));
            assert.equal(off.body.active, false);
            assert.equal(off.body.used, 1);
          },
        );

        await t.step("a coupon whose orders were only reserved or released can be deleted", async () => {
          const coupon = await create();
          const order = {
            orderId: "order-deleting-2",
            code: coupon.code,
            userId: "u1",
            subtotal: usd(1_000),
          };
          await service.discount.reserve(order);
          assert.equal((await asAdmin("DELETE", `/v1/coupons/${coupon.id}`)).status, 204);
          // The order keeps its record: a redelivered reservation answers what it got then.
          assert.equal((await service.discount.reserve(order)).status, "reserved");
          assert.equal((await service.discount.release(order.orderId))?.status, "released");
        });

        await t.step("bad bodies answer 400 naming the field, and store nothing", async () => {
          const before = (await asAdmin("GET", "/v1/coupons/count")).body.total;
          const cases: [string, unknown, string][] = [
            ["percentage over 100", couponBody({ value: 101 }), "value"],
            ["value 0", couponBody({ type: "fixed", value: 0 }), "value"],
            ["value with decimals", couponBody({ type: "fixed", value: 4.99 }), "value"],
            ["value as a string", { ...couponBody(), value: "10" }, "value"],
            ["negative minTotal", couponBody({ minTotal: -5 }), "minTotal"],
            ["unknown type", { ...couponBody(), type: "bogo" }, "type"],
            ["code too short", couponBody({ code: "AB" }), "code"],
            ["code too long", couponBody({ code: "C".repeat(33) }), "code"],
            ["code with a space", couponBody({ code: "SAVE 10" }), "code"],
            ["code with a quote", couponBody({ code: "X'; drop table coupons;--" }), "code"],
            ["operator as the code", { ...couponBody(), code: { $gt: "" } }, "code"],
            ["operator as the value", { ...couponBody(), value: { $gt: 0 } }, "value"],
            ["operator as active", { ...couponBody(), active: { $ne: false } }, "active"],
            ["missing active", { code: "NOACTIVE", type: "percentage", value: 5 }, "active"],
            ["active as a string", { ...couponBody(), active: "true" }, "active"],
            ["usageLimit 0", couponBody({ usageLimit: 0 }), "usageLimit"],
            ["date without a time", couponBody({ validFrom: "2026-01-01" }), "validFrom"],
            ["date without an offset", couponBody({ validFrom: "2026-01-01T00:00:00" }), "validFrom"],
            [
              "validUntil before validFrom",
              couponBody({ validFrom: "2026-03-01T00:00:00Z", validUntil: "2026-02-01T00:00:00Z" }),
              "validUntil",
            ],
            [
              "validUntil equal to validFrom",
              couponBody({ validFrom: "2026-03-01T00:00:00Z", validUntil: "2026-03-01T00:00:00Z" }),
              "validUntil",
            ],
            ["unknown field", { ...couponBody(), used: 0 }, "used"],
            ["the id in the body", { ...couponBody(), id: missingId }, "id"],
            ["an array", [couponBody()], "body"],
          ];
          for (const [name, body, field] of cases) {
            for (const [method, path] of [["POST", "/v1/coupons"], ["PUT", `/v1/coupons/${missingId}`]]) {
              const response = await asAdmin(method, path, body);
              assert.equal(response.status, 400, `${name}: ${method} answered ${response.status}`);
              assert.equal(response.headers.get("content-type"), "application/problem+json");
              const fields = response.body.errors.map((e: { field: string }) => e.field);
              assert.ok(fields.includes(field), `${name}: ${JSON.stringify(response.body.errors)}`);
            }
          }
          const malformed = await call("POST", "/v1/coupons", { token: admin, raw: '{"code": "X",' });
          assert.equal(malformed.status, 400);
          const text = await call("POST", "/v1/coupons", {
            token: admin,
            raw: JSON.stringify(couponBody()),
            contentType: "text/plain",
          });
          assert.equal(text.status, 415);
          assert.equal((await asAdmin("GET", "/v1/coupons/count")).body.total, before);
        });

        await t.step(
          "the list pages with limit and cursor, filters by code and active, and counts",
          async () => {
            const tag = `PG${crypto.randomUUID().slice(0, 6).toUpperCase()}`;
            const made = [];
            for (let i = 0; i < 5; i++) made.push(await create({ code: `${tag}-${i}`, active: i % 2 === 0 }));
            const seen: string[] = [];
            let cursor: string | null = null;
            let pages = 0;
            do {
              const query: string = `?q=${tag.toLowerCase()}&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
              const page = await asAdmin("GET", `/v1/coupons${query}`);
              assert.equal(page.status, 200);
              assert.equal(page.body.total, 5);
              assert.ok(page.body.items.length <= 2);
              seen.push(...page.body.items.map((c: { code: string }) => c.code));
              cursor = page.body.nextCursor;
              pages++;
            } while (cursor);
            assert.equal(pages, 3);
            assert.deepEqual(seen, made.map((c) => c.code), "oldest first, none repeated or missed");

            const active = await asAdmin("GET", `/v1/coupons?q=${tag}&active=true`);
            assert.deepEqual(
              active.body.items.map((c: { code: string }) => c.code),
              [0, 2, 4].map((i) => `${tag}-${i}`),
            );
            assert.equal(active.body.total, 3);
            assert.equal((await asAdmin("GET", `/v1/coupons?q=${tag}&active=false`)).body.total, 2);
            assert.equal(
              (await asAdmin("GET", "/v1/coupons?q=%25")).body.total,
              0,
              "% is a character, not a wildcard",
            );

            assert.equal((await asAdmin("GET", "/v1/coupons?limit=0")).status, 400);
            assert.equal((await asAdmin("GET", "/v1/coupons?limit=101")).status, 400);
            assert.equal((await asAdmin("GET", "/v1/coupons?active=yes")).status, 400);
            const forged = await asAdmin("GET", "/v1/coupons?cursor=bm90LWEtY3Vyc29y");
            assert.equal(forged.status, 400);
            assert.deepEqual(forged.body.errors.map((e: { field: string }) => e.field), ["query.cursor"]);
          },
        );

        await t.step("count answers the total and the active coupons, as the list does", async () => {
          const before = (await asAdmin("GET", "/v1/coupons/count")).body;
          await create({ active: true });
          await create({ active: false });
          const after = await asAdmin("GET", "/v1/coupons/count");
          assert.equal(after.status, 200);
          assert.deepEqual(after.body, { total: before.total + 2, active: before.active + 1 });
          assert.equal((await asAdmin("GET", "/v1/coupons?active=true")).body.total, after.body.active);
          assert.equal((await asAdmin("GET", "/v1/coupons")).body.total, after.body.total);
        });

        await t.step("the coupon check needs the discount:validate scope", async () => {
          const body = { code: "ANY", userId: "u1", subtotal: usd(100) };
          const anonymous = await call("POST", couponValidationPath, { body });
          assert.equal(anonymous.status, 401);
          assert.equal((await validate(body, customer)).status, 403);
          assert.equal((await validate(body, admin)).status, 403, "a user token carries no service scope");
          assert.equal((await validate(body, otherService)).status, 403);
          assert.equal((await validate(body)).status, 200);
        });

        await t.step(
          "the check answers a valid percentage and a valid fixed coupon with their amounts",
          async () => {
            const percent = await create({ type: "percentage", value: 15 });
            assert.deepEqual(await check(percent.code.toLowerCase(), usd(3_333)), {
              valid: true,
              code: percent.code,
              type: "percentage",
              value: 15,
              discount: usd(499),
            });
            const fixed = await create({ type: "fixed", value: 500 });
            assert.deepEqual(await check(` ${fixed.code} `, usd(12_000)), {
              valid: true,
              code: fixed.code,
              type: "fixed",
              value: 500,
              discount: usd(500),
            });
            assert.deepEqual(
              (await check(fixed.code, usd(300))).discount,
              usd(300),
              "never more than the subtotal",
            );
            assert.equal(
              (await asAdmin("GET", `/v1/coupons/${fixed.id}`)).body.used,
              0,
              "a check reserves nothing",
            );
          },
        );

        await t.step("the check answers every rejection reason with 200", async () => {
          const reason = async (code: string, subtotal = usd(10_000), userId = "shopper") => {
            const result = await check(code, subtotal, userId);
            assert.equal(result.valid, false, JSON.stringify(result));
            assert.ok(result.detail.length > 0);
            return result.reason;
          };
          assert.equal(await reason("NOT-A-REAL-CODE"), "unknown");
          assert.equal(await reason("x".repeat(64)), "unknown", "any string is a code to look up");
          assert.equal(await reason((await create({ active: false })).code), "inactive");
          const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
          assert.equal(await reason((await create({ validFrom: inAnHour })).code), "not_started");
          const anHourAgo = new Date(Date.now() - 3_600_000).toISOString();
          assert.equal(await reason((await create({ validUntil: anHourAgo })).code), "expired");

          const single = await create({ usageLimit: 1 });
          await service.discount.reserve({
            orderId: "order-check-1",
            code: single.code,
            userId: "u1",
            subtotal: usd(1),
          });
          assert.equal(await reason(single.code), "exhausted");

          const oncePerCustomer = await create({ perUserLimit: 1 });
          await service.discount.reserve({
            orderId: "order-check-2",
            code: oncePerCustomer.code,
            userId: "returning",
            subtotal: usd(1),
          });
          assert.equal(await reason(oncePerCustomer.code, usd(10_000), "returning"), "per_user_limit");
          assert.equal((await check(oncePerCustomer.code, usd(10_000), "newcomer")).valid, true);

          const minimum = await create({ minTotal: 5_000 });
          assert.equal(await reason(minimum.code, usd(4_999)), "below_minimum");
          assert.equal((await check(minimum.code, usd(5_000))).valid, true, "exactly the minimum is enough");
          assert.equal(await reason(minimum.code, { amount: 10_000, currency: "EUR" }), "currency");
        });

        await t.step("validUntil holds up to and including its instant, by the service's clock", async () => {
          const until = new Date("2026-12-31T23:59:59.000Z");
          const coupon = await create({ validFrom: "2026-12-01T00:00:00Z", validUntil: until.toISOString() });
          service.setClock(until);
          assert.equal((await check(coupon.code)).valid, true);
          service.setClock(new Date(until.getTime() + 1));
          assert.equal((await check(coupon.code)).reason, "expired");
          service.setClock(new Date("2026-11-30T23:59:59.999Z"));
          assert.equal((await check(coupon.code)).reason, "not_started");
          service.setClock();
        });

        await t.step("a malformed check answers 400 naming the field", async () => {
          const good = { code: "WHATEVER", userId: "u1", subtotal: usd(1_000) };
          const cases: [unknown, string][] = [
            [{ ...good, code: "" }, "code"],
            [{ ...good, code: { $gt: "" } }, "code"],
            [{ ...good, userId: undefined }, "userId"],
            [{ ...good, subtotal: 1_000 }, "subtotal"],
            [{ ...good, subtotal: { amount: -1, currency: "USD" } }, "subtotal.amount"],
            [{ ...good, subtotal: { amount: 10.5, currency: "USD" } }, "subtotal.amount"],
            [{ ...good, subtotal: { amount: 100, currency: "usd" } }, "subtotal.currency"],
          ];
          for (const [body, field] of cases) {
            const response = await validate(body);
            assert.equal(response.status, 400, JSON.stringify(body));
            assert.deepEqual(response.body.errors.map((e: { field: string }) => e.field), [field]);
          }
          const malformed = await call("POST", couponValidationPath, { token: basket, raw: "{" });
          assert.equal(malformed.status, 400);
        });

        await t.step("seedCoupons makes the demo coupons once, and they behave as named", async () => {
          assert.deepEqual(await seedCoupons(service.store), [
            "WELCOME10",
            "HOME15",
            "SAVE5",
            "ONEUSE",
            "EXPIRED",
          ]);
          assert.deepEqual(await seedCoupons(service.store), [], "a second run changes nothing");
          assert.deepEqual((await check("welcome10")).discount, usd(1_000));
          assert.equal((await check("HOME15", usd(4_999))).reason, "below_minimum");
          assert.deepEqual((await check("HOME15", usd(5_000))).discount, usd(750));
          assert.deepEqual((await check("SAVE5", usd(2_000))).discount, usd(500));
          assert.equal((await check("ONEUSE")).valid, true);
          assert.equal((await check("EXPIRED")).reason, "expired");
          const listed = await asAdmin("GET", "/v1/coupons?q=ONEUSE");
          assert.equal(listed.body.items[0].usageLimit, 1);
        });
      } finally {
        await service.close();
      }
    },
  );
}
