/**
 * The payment service through HTTP, on both PostgreSQL targets: the order service handing over a card
 * (and nothing keeping its number or CVC), and admins looking at payments.
 */
import assert from "node:assert/strict";
import { call as callService, type CallOptions, postgresTargets } from "@multishop/kit/testing";
import { type CardInput, paymentMethodsPath, tokenizeScope } from "@multishop/kit/contracts/payment-methods";
import { card, orderId, startTestPayment, usd } from "./test_support.ts";

for (const target of await postgresTargets()) {
  Deno.test({ name: `payment API on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) }, async (t) => {
    const service = await startTestPayment(target);
    const { tokens, payments, sql } = service;
    const admin = await tokens.admin();
    const customer = await tokens.customer();
    const orderService = await tokens.client("order", [tokenizeScope]);
    const otherService = await tokens.client("basket", ["catalog:read", "discount:validate"]);

    const call = (method: string, path: string, options: CallOptions = {}) =>
      callService(service.url, method, path, options);
    const tokenize = (body: unknown, token = orderService) =>
      call("POST", paymentMethodsPath, { token, body });
    const asAdmin = (path: string) => call("GET", path, { token: admin });
    const storedMethods = async () =>
      (await sql<{ count: number }[]>`select count(*)::int as count from payment_methods`)[0].count;

    try {
      await t.step("readiness checks PostgreSQL and messaging", async () => {
        const ready = await call("GET", "/health/ready");
        assert.equal(ready.status, 200);
        assert.deepEqual(ready.body.checks, { postgres: "ok", messaging: "ok" });
      });

      await t.step(
        "handing over a card needs the payment:tokenize scope: 401, then 403 without it",
        async () => {
          const body = card("4242424242424242");
          const anonymous = await call("POST", paymentMethodsPath, { body });
          assert.equal(anonymous.status, 401);
          assert.equal(anonymous.headers.get("content-type"), "application/problem+json");
          assert.equal(anonymous.headers.get("www-authenticate"), "Bearer");
          for (const token of [customer, admin, otherService]) {
            const refused = await tokenize(body, token);
            assert.equal(refused.status, 403);
            assert.match(refused.body.detail, /payment:tokenize scope/);
          }
          assert.equal(await storedMethods(), 0, "nothing was stored");
        },
      );

      await t.step(
        "a card answers 201 with its brand, last four digits and expiry, nothing more",
        async () => {
          const visa = await tokenize(card("4242 4242 4242 4242", { expMonth: 3 }));
          assert.equal(visa.status, 201);
          const { paymentMethodId, ...rest } = visa.body;
          assert.match(paymentMethodId, /^[0-9a-f-]{36}$/);
          const expYear = new Date().getUTCFullYear() + 3;
          assert.deepEqual(rest, { brand: "visa", last4: "4242", expMonth: 3, expYear });

          const amex = await tokenize(card("3782-822463-10005", { cvc: "7391" }));
          assert.equal(amex.status, 201);
          assert.equal(amex.body.brand, "amex");
          assert.equal(amex.body.last4, "0005");
        },
      );

      await t.step("an invalid card answers 400 naming the field, and never repeats the number", async () => {
        const cases: [Record<string, unknown>, string, RegExp][] = [
          [card("4242424242424241"), "cardNumber", /check digit/],
          [card("3530111333300000"), "cardNumber", /not a Visa, Mastercard/],
          [card("4242 4242"), "cardNumber", /12 to 19 digits/],
          [card("4242-4242-abcd-4242"), "cardNumber", /must be digits/],
          [{ ...card(""), cardNumber: 4242424242424242 }, "cardNumber", /expected string/],
          [card("378282246310005", { cvc: "123" }), "cvc", /4 digits on American Express/],
          [card("4242424242424242", { cvc: "12" }), "cvc", /3 or 4 digits/],
          [card("4242424242424242", { expMonth: 13 }), "expMonth", /12/],
          [card("4242424242424242", { expYear: 29 }), "expYear", /2000/],
          [card("4242424242424242", { expYear: 2020 }), "expYear", /expired/],
          [card("4242424242424242", { holder: " " }), "holder", /1 character/],
          [card("4242424242424242", { holder: "4242424242424242" }), "holder", /without digits/],
          [(({ cvc: _, ...rest }) => rest)(card("4242424242424242")), "cvc", /is required/],
          [{ ...card("4242424242424242"), pin: "1234" }, "pin", /not a known field/],
        ];
        const before = await storedMethods();
        for (const [body, field, reason] of cases) {
          const response = await tokenize(body);
          assert.equal(response.status, 400, `${field}: ${response.text}`);
          assert.equal(response.headers.get("content-type"), "application/problem+json");
          assert.deepEqual(response.body.errors.map((error: { field: string }) => error.field), [field]);
          assert.match(response.body.errors[0].reason, reason);
          const digits = String(body.cardNumber).replace(/\D/g, "");
          if (digits.length >= 8) assert.ok(!response.text.includes(digits), `the answer repeats ${digits}`);
        }
        assert.equal(await storedMethods(), before, "nothing was stored");
      });

      await t.step("expiry is judged by the service's clock, through the end of the month", async () => {
        service.setClock(new Date("2030-01-15T10:00:00Z"));
        try {
          const expired = await tokenize(card("4242424242424242", { expMonth: 12, expYear: 2029 }));
          assert.equal(expired.status, 400);
          assert.deepEqual(expired.body.errors, [{ field: "expYear", reason: "the card has expired" }]);
          const lastMonth = await tokenize(card("4242424242424242", { expMonth: 1, expYear: 2030 }));
          assert.equal(lastMonth.status, 201);
        } finally {
          service.setClock();
        }
      });

      await t.step("admin routes: 401 without a token, 403 for a customer or a service", async () => {
        for (const path of ["/v1/payments", `/v1/payments/${orderId()}`]) {
          assert.equal((await call("GET", path)).status, 401, path);
          for (const token of [customer, orderService]) {
            const refused = await call("GET", path, { token });
            assert.equal(refused.status, 403, path);
            assert.match(refused.body.detail, /admin role/);
          }
        }
      });

      await t.step(
        "admins list payments newest first, by status and page, showing brand and last4",
        async () => {
          const charge = async (cardNumber: string, amount: number) => {
            const { paymentMethodId } = (await tokenize(card(cardNumber))).body;
            return await payments.charge({ orderId: orderId(), paymentMethodId, amount: usd(amount) });
          };
          const captured = await charge("4242424242424242", 1_000);
          const failed = await charge("4000000000009995", 2_000);
          const refunded = await charge("5555555555554444", 3_000);
          await payments.refund(refunded.orderId);
          const capturedToo = await charge("6011111111111117", 4_000);
          const newestFirst = (await Promise.all(
            [captured, failed, refunded, capturedToo].map((payment) => payments.payment(payment.orderId)),
          )).sort((a, b) =>
            b.createdAt.getTime() - a.createdAt.getTime() || (a.orderId < b.orderId ? 1 : -1)
          );
          const orderIds = (items: { orderId: string }[]) => items.map((item) => item.orderId);

          const all = await asAdmin("/v1/payments");
          assert.equal(all.status, 200);
          assert.equal(all.body.total, 4);
          assert.deepEqual(orderIds(all.body.items), orderIds(newestFirst));

          const first = await asAdmin("/v1/payments?limit=3");
          assert.deepEqual(orderIds(first.body.items), orderIds(newestFirst.slice(0, 3)));
          const second = await asAdmin(`/v1/payments?limit=3&cursor=${first.body.nextCursor}`);
          assert.deepEqual(orderIds(second.body.items), orderIds(newestFirst.slice(3)));
          assert.equal(second.body.nextCursor, null);

          const capturedOnly = await asAdmin("/v1/payments?status=captured");
          assert.equal(capturedOnly.body.total, 2);
          assert.deepEqual(
            orderIds(capturedOnly.body.items),
            orderIds(newestFirst.filter((payment) => payment.status === "captured")),
          );
          const failedOnly = await asAdmin("/v1/payments?status=failed");
          assert.equal(failedOnly.body.total, 1);
          assert.deepEqual(failedOnly.body.items[0].failure, {
            reason: "insufficient_funds",
            detail: "the card has insufficient funds",
          });

          const one = await asAdmin(`/v1/payments/${refunded.orderId}`);
          assert.equal(one.status, 200);
          const { id, paymentMethodId, processorReference, refund, createdAt, updatedAt, ...rest } = one.body;
          assert.equal(id, refunded.id);
          assert.equal(paymentMethodId, refunded.paymentMethodId);
          assert.match(processorReference, /^sim_pay_/);
          assert.deepEqual(rest, {
            orderId: refunded.orderId,
            status: "refunded",
            amount: usd(3_000),
            card: { brand: "mastercard", last4: "4444" },
            failure: null,
          });
          assert.deepEqual(refund.amount, usd(3_000));
          assert.match(refund.processorReference, /^sim_re_/);
          assert.ok(Date.parse(refund.createdAt) && Date.parse(createdAt) && Date.parse(updatedAt));
        },
      );

      await t.step("bad list parameters answer 400 naming them; an order without payment 404", async () => {
        const badStatus = await asAdmin("/v1/payments?status=paid");
        assert.equal(badStatus.status, 400);
        assert.deepEqual(badStatus.body.errors.map((error: { field: string }) => error.field), [
          "query.status",
        ]);
        const badCursor = await asAdmin("/v1/payments?cursor=not-a-cursor");
        assert.deepEqual(badCursor.body.errors.map((error: { field: string }) => error.field), [
          "query.cursor",
        ]);
        assert.equal((await asAdmin("/v1/payments?limit=0")).status, 400);
        const missing = await asAdmin(`/v1/payments/${orderId()}`);
        assert.equal(missing.status, 404);
        assert.equal(missing.headers.get("content-type"), "application/problem+json");
      });

      await t.step("nothing keeps a card number or CVC: no table row, no log line", async () => {
        const cards: CardInput[] = [
          card("4000 0000 0000 0077", { cvc: "731" }),
          card("5105-1051-0510-5100", { cvc: "846" }),
          card("371449635398431", { cvc: "9173" }),
        ];
        for (const each of cards) {
          const response = await tokenize(each);
          assert.equal(response.status, 201);
          const { paymentMethodId } = response.body;
          const order = orderId();
          await payments.charge({ orderId: order, paymentMethodId, amount: usd(500) });
          await payments.refund(order);
        }
        // Refused cards are logged too (a request line, a validation answer): those must not leak either.
        await tokenize(card("4000 0000 0000 0077", { cvc: "731", expYear: 2020 }));
        await tokenize({ ...cards[1], holder: "5105105105105100" });

        const secrets = cards.map((each) => ({ number: each.cardNumber.replace(/\D/g, ""), cvc: each.cvc }));
        /** Every string value in a JSON document, however deep. */
        const strings = (value: unknown): string[] =>
          typeof value === "string"
            ? [value]
            : value && typeof value === "object"
            ? Object.values(value).flatMap(strings)
            : [];
        /** Neither a number (typed with or without separators) nor a CVC in any value, text or numeric. */
        const assertClean = (where: string, documents: unknown[]) => {
          const text = JSON.stringify(documents);
          for (const { number, cvc } of secrets) {
            assert.ok(!text.includes(number), `${where} holds a card number`);
            for (const value of documents.flatMap(strings)) {
              assert.ok(
                !value.replace(/[ -]/g, "").includes(number),
                `${where} holds a card number: ${value}`,
              );
              assert.notEqual(value, cvc, `${where} holds a CVC`);
            }
          }
        };
        for (const table of ["payment_methods", "payments", "refunds"]) {
          const rows = await sql<{ row: Record<string, unknown> }[]>`select to_jsonb(t) as row from ${
            sql(table)
          } t`;
          assert.ok(rows.length > 0, `${table} has rows`);
          assertClean(table, rows.map(({ row }) => row));
        }
        const [stored] = await sql`select * from payment_methods where last4 = '0077'`;
        assert.deepEqual(Object.keys(stored).sort(), [
          "brand",
          "created_at",
          "exp_month",
          "exp_year",
          "holder",
          "id",
          "last4",
          "processor_token",
        ]);
        assert.equal(stored.processor_token, "approve", "the simulated processor's behaviour class");

        assert.ok(
          service.logger.lines.some((line) => line.path === paymentMethodsPath),
          "requests were logged",
        );
        assertClean("the log", service.logger.lines);
        assert.ok(
          service.logger.lines.every((line) => !("cardNumber" in line) && !("cvc" in line)),
          "no log line has card fields",
        );
      });
    } finally {
      await service.close();
    }
  });
}
