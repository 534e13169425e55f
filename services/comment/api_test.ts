/** The comment service through HTTP, as shoppers, customers and moderators use it, on both PostgreSQL targets. */
import assert from "node:assert/strict";
import { postgresTargets } from "@multishop/kit/testing";
import { reviewBody, startTestComment } from "./test_support.ts";

const missingId = "00000000-0000-4000-8000-000000000000";
const publicFields = ["authorName", "createdAt", "id", "rating", "text", "title", "verifiedPurchase"];

for (const target of await postgresTargets()) {
  Deno.test(
    { name: `comment API on ${target.name} PostgreSQL`, ignore: Boolean(target.skip) },
    async (t) => {
      const service = await startTestComment(target);
      const { call } = service;
      const admin = await service.admin();
      const ada = await service.customer(crypto.randomUUID(), "ada");
      const bob = await service.customer(crypto.randomUUID(), "bob");

      const submit = async (productId: string, token: string, overrides: Record<string, unknown> = {}) => {
        const response = await call("POST", `/v1/products/${productId}/reviews`, {
          token,
          body: reviewBody(overrides),
        });
        assert.equal(response.status, 201, JSON.stringify(response.body));
        return response.body;
      };
      const approve = async (id: string) => {
        const response = await call("POST", `/v1/reviews/${id}/approve`, { token: admin });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        return response.body;
      };
      const reject = async (id: string, body?: unknown) => {
        const response = await call("POST", `/v1/reviews/${id}/reject`, { token: admin, body });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        return response.body;
      };
      const publicList = async (productId: string, query = "") => {
        const response = await call("GET", `/v1/products/${productId}/reviews${query}`);
        assert.equal(response.status, 200, JSON.stringify(response.body));
        return response.body;
      };
      const rating = async (productId: string) => {
        const response = await call("GET", `/v1/products/${productId}/rating`);
        assert.equal(response.status, 200, JSON.stringify(response.body));
        return response.body;
      };
      const stats = async () => (await call("GET", "/v1/reviews/stats", { token: admin })).body;
      const mineTotal = async (token: string) =>
        (await call("GET", "/v1/reviews/mine", { token })).body.total;

      try {
        await t.step("readiness checks PostgreSQL and messaging", async () => {
          const ready = await call("GET", "/health/ready");
          assert.equal(ready.status, 200);
          assert.deepEqual(ready.body.checks, { postgres: "ok", messaging: "ok" });
        });

        await t.step("who may call: 401 without a token, 403 for customers on moderation", async () => {
          const productId = service.newProductId();
          const userRoutes: [string, string, unknown?][] = [
            ["POST", `/v1/products/${productId}/reviews`, reviewBody()],
            ["GET", "/v1/reviews/mine"],
            ["GET", `/v1/reviews/${missingId}`],
            ["DELETE", `/v1/reviews/${missingId}`],
          ];
          const adminRoutes: [string, string, unknown?][] = [
            ["GET", "/v1/reviews"],
            ["GET", "/v1/reviews/stats"],
            ["POST", `/v1/reviews/${missingId}/approve`],
            ["POST", `/v1/reviews/${missingId}/reject`, { reason: "no" }],
          ];
          for (const [method, path, body] of [...userRoutes, ...adminRoutes]) {
            const anonymous = await call(method, path, { body });
            assert.equal(anonymous.status, 401, `${method} ${path}`);
            assert.equal(anonymous.headers.get("content-type"), "application/problem+json");
          }
          for (const [method, path, body] of adminRoutes) {
            assert.equal((await call(method, path, { token: ada, body })).status, 403, `${method} ${path}`);
          }
          const catalogClient = await service.tokens.client("catalog", ["catalog:read"]);
          const asClient = await call("POST", `/v1/products/${productId}/reviews`, {
            token: catalogClient,
            body: reviewBody(),
          });
          assert.equal(asClient.status, 403, "a review needs a user, not a service");
          assert.equal((await publicList(productId)).total, 0, "nothing was written");
        });

        await t.step(
          "submit: 201 pending, with Location, the author's username and no purchase",
          async () => {
            const productId = service.newProductId();
            const created = await call("POST", `/v1/products/${productId.toUpperCase()}/reviews`, {
              token: ada,
              body: reviewBody({ rating: 5, title: "  Lovely  " }),
            });
            assert.equal(created.status, 201, JSON.stringify(created.body));
            const { id, userId, createdAt, updatedAt, ...rest } = created.body;
            assert.equal(created.headers.get("location"), `/v1/reviews/${id}`);
            assert.match(id, /^[0-9a-f-]{36}$/);
            assert.ok(userId.length > 0);
            assert.ok(Date.parse(createdAt) && Date.parse(updatedAt));
            assert.deepEqual(rest, {
              productId,
              authorName: "ada",
              rating: 5,
              title: "Lovely",
              text: reviewBody().text,
              status: "pending",
              rejectionReason: null,
              verifiedPurchase: false,
              moderatedAt: null,
            });
            const read = await call("GET", `/v1/reviews/${id}`, { token: ada });
            assert.equal(read.status, 200);
            assert.deepEqual(read.body, created.body);
            assert.equal((await call("GET", `/v1/reviews/${id}`, { token: admin })).status, 200);
            assert.equal((await call("GET", `/v1/reviews/${id}`, { token: bob })).status, 404, "not bob's");
            assert.equal((await call("GET", `/v1/reviews/${missingId}`, { token: ada })).status, 404);
          },
        );

        await t.step("only products on sale: unknown, draft and archived ones answer 404", async () => {
          const before = await mineTotal(ada);
          const notOnSale: [string, string][] = [
            ["unknown", missingId],
            ["draft", await service.productIn("draft")],
            ["archived", await service.productIn("archived")],
          ];
          for (const [what, productId] of notOnSale) {
            const refused = await call("POST", `/v1/products/${productId}/reviews`, {
              token: ada,
              body: reviewBody(),
            });
            assert.equal(refused.status, 404, `${what}: ${JSON.stringify(refused.body)}`);
            assert.equal(refused.headers.get("content-type"), "application/problem+json");
            assert.equal(refused.body.type, "urn:multishop:problem:product-not-found");
            assert.deepEqual(refused.body.errors, [{
              field: "path.productId",
              reason: "is not a product on sale",
            }]);
          }
          assert.equal(await mineTotal(ada), before, "nothing was stored");
          const queue = await call("GET", "/v1/reviews?status=pending&limit=100", { token: admin });
          const queued = queue.body.items.map((review: { productId: string }) => review.productId);
          assert.ok(notOnSale.every(([, productId]) => !queued.includes(productId)), "the queue is clean");
        });

        await t.step("a token without a username shows a neutral name, never an email", async () => {
          const noName = await service.tokens.customer();
          const emailName = await service.tokens.sign(crypto.randomUUID(), {
            roles: ["customer"],
            preferred_username: "ada@example.com",
          });
          const productId = service.newProductId();
          assert.equal((await submit(productId, noName)).authorName, "Customer");
          assert.equal((await submit(productId, emailName)).authorName, "Customer");
        });

        await t.step("pending reviews are invisible publicly until approved", async () => {
          const productId = service.newProductId();
          const review = await submit(productId, ada, { rating: 3 });
          assert.deepEqual((await publicList(productId)).items, []);
          assert.equal((await rating(productId)).count, 0);
          const approved = await approve(review.id);
          assert.equal(approved.status, "approved");
          assert.ok(Date.parse(approved.moderatedAt));
          const listed = await publicList(productId);
          assert.equal(listed.total, 1);
          assert.deepEqual(Object.keys(listed.items[0]).sort(), publicFields, "no user id, no status");
          assert.deepEqual(listed.items[0], {
            id: review.id,
            rating: 3,
            title: review.title,
            text: review.text,
            authorName: "ada",
            verifiedPurchase: false,
            createdAt: review.createdAt,
          });
          assert.deepEqual(await rating(productId), {
            productId,
            average: 3,
            count: 1,
            distribution: { "1": 0, "2": 0, "3": 1, "4": 0, "5": 0 },
          });
        });

        await t.step("rejected reviews stay invisible; the author sees the reason", async () => {
          const productId = service.newProductId();
          const review = await submit(productId, ada);
          const rejected = await reject(review.id, { reason: "  About the courier, not the coat. " });
          assert.equal(rejected.status, "rejected");
          assert.equal(rejected.rejectionReason, "About the courier, not the coat.");
          assert.deepEqual((await publicList(productId)).items, []);
          assert.equal((await rating(productId)).count, 0);
          const own = await call("GET", `/v1/reviews/${review.id}`, { token: ada });
          assert.equal(own.body.rejectionReason, "About the courier, not the coat.");

          const again = await reject(review.id, { reason: "another reason" });
          assert.deepEqual(again, rejected, "rejecting a rejected review changes nothing");
          const noBody = await submit(service.newProductId(), ada);
          const withoutReason = await reject(noBody.id);
          assert.equal(withoutReason.status, "rejected");
          assert.equal(withoutReason.rejectionReason, null);

          const reinstated = await approve(review.id);
          assert.equal(reinstated.rejectionReason, null);
          assert.equal((await publicList(productId)).total, 1);
          assert.deepEqual(
            await approve(review.id),
            reinstated,
            "approving an approved review changes nothing",
          );
          const takenDown = await reject(review.id);
          assert.equal(takenDown.status, "rejected");
          assert.equal((await publicList(productId)).total, 0);
        });

        await t.step("moderation: a customer gets 403 and nothing changes; bad ids 400 and 404", async () => {
          const review = await submit(service.newProductId(), ada);
          for (const action of ["approve", "reject"]) {
            const refused = await call("POST", `/v1/reviews/${review.id}/${action}`, {
              token: ada,
              body: {},
            });
            assert.equal(refused.status, 403, action);
            assert.equal(refused.body.type, "urn:multishop:problem:forbidden");
          }
          assert.equal(
            (await call("GET", `/v1/reviews/${review.id}`, { token: ada })).body.status,
            "pending",
          );
          assert.equal(
            (await call("POST", `/v1/reviews/${missingId}/approve`, { token: admin })).status,
            404,
          );
          assert.equal((await call("POST", `/v1/reviews/${missingId}/reject`, { token: admin })).status, 404);
          const malformed = await call("POST", "/v1/reviews/not-an-id/approve", { token: admin });
          assert.equal(malformed.status, 400);
          assert.deepEqual(malformed.body.errors, [{ field: "path.id", reason: "must be a review id" }]);
          const unknownField = await call("POST", `/v1/reviews/${review.id}/reject`, {
            token: admin,
            body: { reason: "x", status: "approved" },
          });
          assert.equal(unknownField.status, 400);
          assert.deepEqual(unknownField.body.errors.map((e: { field: string }) => e.field), ["status"]);
          const text = await call("POST", `/v1/reviews/${review.id}/reject`, {
            token: admin,
            raw: "spam",
            contentType: "text/plain",
          });
          assert.equal(text.status, 415);
          assert.equal(
            (await call("GET", `/v1/reviews/${review.id}`, { token: ada })).body.status,
            "pending",
          );
        });

        await t.step("one review per customer and product: 409 naming the product", async () => {
          const productId = service.newProductId();
          await submit(productId, ada);
          const again = await call("POST", `/v1/products/${productId}/reviews`, {
            token: ada,
            body: reviewBody(),
          });
          assert.equal(again.status, 409);
          assert.equal(again.body.type, "urn:multishop:problem:review-exists");
          assert.deepEqual(again.body.errors.map((e: { field: string }) => e.field), ["path.productId"]);
          const shouting = await call("POST", `/v1/products/${productId.toUpperCase()}/reviews`, {
            token: ada,
            body: reviewBody(),
          });
          assert.equal(shouting.status, 409, "the same product in capitals");
          await submit(productId, bob);
          await submit(service.newProductId(), ada);
        });

        await t.step("one review per customer and product under concurrent submits", async () => {
          const productId = service.newProductId();
          const carol = await service.customer();
          const attempts = await Promise.all(
            Array.from(
              { length: 6 },
              (_, i) =>
                call("POST", `/v1/products/${productId}/reviews`, {
                  token: carol,
                  body: reviewBody({ rating: 1 + (i % 5) }),
                }),
            ),
          );
          assert.deepEqual(attempts.map((response) => response.status).sort(), [
            201,
            409,
            409,
            409,
            409,
            409,
          ]);
          const mine = await call("GET", "/v1/reviews/mine", { token: carol });
          assert.equal(mine.body.total, 1);
        });

        await t.step("deleting one's review frees the product for a new one", async () => {
          const productId = service.newProductId();
          const first = await submit(productId, ada);
          assert.equal((await call("DELETE", `/v1/reviews/${first.id}`, { token: ada })).status, 204);
          const second = await submit(productId, ada, { rating: 2 });
          assert.notEqual(second.id, first.id);
        });

        await t.step("bad bodies and ids answer 400 naming the field, and store nothing", async () => {
          const productId = service.newProductId();
          const before = await mineTotal(ada);
          const cases: [string, unknown, string][] = [
            ["rating 0", reviewBody({ rating: 0 }), "rating"],
            ["rating 6", reviewBody({ rating: 6 }), "rating"],
            ["rating 4.5", reviewBody({ rating: 4.5 }), "rating"],
            ["rating as a string", reviewBody({ rating: "5" }), "rating"],
            ["no title", { rating: 5, text: "x" }, "title"],
            ["blank title", reviewBody({ title: "   " }), "title"],
            ["title of 121 characters", reviewBody({ title: "t".repeat(121) }), "title"],
            ["title over two lines", reviewBody({ title: "one\ntwo" }), "title"],
            ["empty text", reviewBody({ text: "" }), "text"],
            ["text of 4001 characters", reviewBody({ text: "x".repeat(4001) }), "text"],
            ["text with a NUL", reviewBody({ text: "nul\u0000byte" }), "text"],
            ["text with a terminal escape", reviewBody({ text: "\u001b[2J cleared" }), "text"],
            ["operator as the text", reviewBody({ text: { $gt: "" } }), "text"],
            ["a status in the body", reviewBody({ status: "approved" }), "status"],
            ["the author in the body", reviewBody({ userId: "someone" }), "userId"],
            ["verified in the body", reviewBody({ verifiedPurchase: true }), "verifiedPurchase"],
            ["an array", [reviewBody()], "body"],
          ];
          for (const [name, body, field] of cases) {
            const response = await call("POST", `/v1/products/${productId}/reviews`, { token: ada, body });
            assert.equal(response.status, 400, `${name}: answered ${response.status}`);
            assert.equal(response.headers.get("content-type"), "application/problem+json");
            const fields = response.body.errors.map((e: { field: string }) => e.field);
            assert.ok(fields.includes(field), `${name}: ${JSON.stringify(response.body.errors)}`);
          }
          const notAProduct = await call("POST", "/v1/products/shirt-1/reviews", {
            token: ada,
            body: reviewBody(),
          });
          assert.equal(notAProduct.status, 400);
          assert.deepEqual(notAProduct.body.errors, [{
            field: "path.productId",
            reason: "must be a product id (a UUID)",
          }]);
          assert.equal((await call("GET", "/v1/products/shirt-1/reviews")).status, 400);
          assert.equal((await call("GET", "/v1/products/shirt-1/rating")).status, 400);
          const malformed = await call("POST", `/v1/products/${productId}/reviews`, {
            token: ada,
            raw: '{"rating": 5,',
          });
          assert.equal(malformed.status, 400);
          const text = await call("POST", `/v1/products/${productId}/reviews`, {
            token: ada,
            raw: JSON.stringify(reviewBody()),
            contentType: "text/plain",
          });
          assert.equal(text.status, 415);
          assert.equal(await mineTotal(ada), before, "nothing was stored");
        });

        await t.step("text is plain: <script> comes back verbatim, only ever inside JSON", async () => {
          const productId = service.newProductId();
          const script = `<script>alert("pwned")</script>\n<img src=x onerror=alert(1)> & "quotes"`;
          const review = await submit(productId, ada, { title: "<b>bold?</b>", text: script });
          assert.equal(review.text, script);
          await approve(review.id);
          const listed = await call("GET", `/v1/products/${productId}/reviews`);
          assert.match(listed.headers.get("content-type")!, /^application\/json/);
          assert.equal(listed.body.items[0].text, script);
          assert.equal(listed.body.items[0].title, "<b>bold?</b>");
          assert.ok(listed.text.includes(JSON.stringify(script)), "a JSON string, not markup");
        });

        await t.step(
          "the public list pages newest first or best first, with cursors of its own",
          async () => {
            const productId = service.newProductId();
            const written = [];
            for (const stars of [3, 5, 1, 5, 4]) {
              const review = await submit(productId, await service.customer(), { rating: stars });
              await approve(review.id);
              written.push(review);
            }
            const pending = await submit(productId, ada, { rating: 5 });
            const walk = async (sort: string) => {
              const seen: { id: string; rating: number }[] = [];
              let cursor: string | null = null;
              let pages = 0;
              do {
                const query: string = `?sort=${sort}&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
                const page = await publicList(productId, query);
                assert.equal(page.total, 5);
                assert.ok(page.items.length <= 2);
                seen.push(...page.items);
                cursor = page.nextCursor;
                pages++;
              } while (cursor);
              assert.equal(pages, 3);
              return seen;
            };
            const newest = await walk("newest");
            assert.deepEqual(newest.map((r) => r.id), written.map((r) => r.id).reverse());
            const best = await walk("best");
            assert.deepEqual(best.map((r) => r.rating), [5, 5, 4, 3, 1]);
            assert.deepEqual(
              best.slice(0, 2).map((r) => r.id),
              [written[3].id, written[1].id],
              "ties: newest first",
            );
            assert.ok(!best.some((r) => r.id === pending.id));
            assert.deepEqual(
              (await publicList(productId)).items.map((r: { id: string }) => r.id),
              newest.map((r) => r.id),
            );

            const bestPage = await publicList(productId, "?sort=best&limit=1");
            const crossed = await call(
              "GET",
              `/v1/products/${productId}/reviews?sort=newest&cursor=${bestPage.nextCursor}`,
            );
            assert.equal(crossed.status, 400);
            assert.deepEqual(crossed.body.errors.map((e: { field: string }) => e.field), ["query.cursor"]);
            const forged = await call("GET", `/v1/products/${productId}/reviews?cursor=bm90LWEtY3Vyc29y`);
            assert.equal(forged.status, 400);
            assert.equal((await call("GET", `/v1/products/${productId}/reviews?sort=worst`)).status, 400);
            assert.equal((await call("GET", `/v1/products/${productId}/reviews?limit=0`)).status, 400);
            assert.equal((await call("GET", `/v1/products/${productId}/reviews?limit=101`)).status, 400);
          },
        );

        await t.step("the rating summary counts approved reviews only", async () => {
          const productId = service.newProductId();
          for (const stars of [5, 4, 4]) {
            await approve((await submit(productId, await service.customer(), { rating: stars })).id);
          }
          await submit(productId, await service.customer(), { rating: 1 });
          await reject((await submit(productId, await service.customer(), { rating: 1 })).id);
          assert.deepEqual(await rating(productId), {
            productId,
            average: 4.3,
            count: 3,
            distribution: { "1": 0, "2": 0, "3": 0, "4": 2, "5": 1 },
          });
          assert.deepEqual(
            await rating(service.newProductId()).then(({ average, count }) => ({ average, count })),
            {
              average: null,
              count: 0,
            },
          );
        });

        await t.step("public reads carry the shared cache headers; a signed-in read is private", async () => {
          const productId = service.newProductId();
          for (const path of [`/v1/products/${productId}/reviews`, `/v1/products/${productId}/rating`]) {
            const anonymous = await call("GET", path);
            assert.equal(anonymous.headers.get("cache-control"), "public, max-age=30, s-maxage=60");
            const tag = anonymous.headers.get("etag");
            assert.ok(tag, path);
            const revalidated = await fetch(`${service.url}${path}`, { headers: { "if-none-match": tag! } });
            await revalidated.body?.cancel();
            assert.equal(revalidated.status, 304);
            const signedIn = await call("GET", path, { token: ada });
            assert.equal(signedIn.headers.get("cache-control"), "private, no-store");
          }
        });

        await t.step("a signed-in caller's answers carry Cache-Control: no-store", async () => {
          const review = await submit(service.newProductId(), ada);
          const answers: [string, string, string][] = [
            ["POST", `/v1/reviews/${review.id}/approve`, admin],
            ["GET", "/v1/reviews/mine", ada],
            ["GET", `/v1/reviews/${review.id}`, ada],
            ["GET", "/v1/reviews?status=pending", admin],
            ["GET", "/v1/reviews/stats", admin],
          ];
          for (const [method, path, token] of answers) {
            const response = await call(method, path, { token });
            assert.equal(response.status, 200, `${method} ${path}`);
            assert.equal(response.headers.get("cache-control"), "no-store", `${method} ${path}`);
          }
          const created = await call("POST", `/v1/products/${service.newProductId()}/reviews`, {
            token: ada,
            body: reviewBody(),
          });
          assert.equal(created.headers.get("cache-control"), "no-store", "the new review");
        });

        await t.step("stats count approved, pending, rejected and all reviews", async () => {
          const before = await stats();
          const productId = service.newProductId();
          await approve((await submit(productId, await service.customer())).id);
          await submit(productId, await service.customer());
          await submit(productId, await service.customer());
          await reject((await submit(productId, await service.customer())).id);
          const after = await stats();
          assert.deepEqual(after, {
            approved: before.approved + 1,
            pending: before.pending + 2,
            rejected: before.rejected + 1,
            total: before.total + 4,
          });
          assert.equal(after.total, after.approved + after.pending + after.rejected);
          const pendingQueue = await call("GET", "/v1/reviews?status=pending&limit=1", { token: admin });
          assert.equal(pendingQueue.body.total, after.pending);
        });

        await t.step("mine: the caller's reviews of every status, newest first, paged", async () => {
          const dan = await service.customer();
          const written = [];
          for (let i = 0; i < 3; i++) written.push(await submit(service.newProductId(), dan));
          await approve(written[0].id);
          await reject(written[1].id);
          await submit(service.newProductId(), bob);
          const first = await call("GET", "/v1/reviews/mine?limit=2", { token: dan });
          assert.equal(first.status, 200);
          assert.equal(first.body.total, 3);
          const second = await call("GET", `/v1/reviews/mine?limit=2&cursor=${first.body.nextCursor}`, {
            token: dan,
          });
          assert.equal(second.body.nextCursor, null);
          const seen = [...first.body.items, ...second.body.items];
          assert.deepEqual(seen.map((r) => r.id), written.map((r) => r.id).reverse());
          assert.deepEqual(seen.map((r) => r.status), ["pending", "rejected", "approved"]);
        });

        await t.step("delete: one's own 204; another's 404 and kept; an admin any", async () => {
          const productId = service.newProductId();
          const adas = await submit(productId, ada);
          const bobs = await submit(productId, bob);
          await approve(bobs.id);
          const notYours = await call("DELETE", `/v1/reviews/${bobs.id}`, { token: ada });
          assert.equal(notYours.status, 404);
          assert.equal((await publicList(productId)).total, 1, "bob's review is still there");
          const deleted = await call("DELETE", `/v1/reviews/${adas.id}`, { token: ada });
          assert.equal(deleted.status, 204);
          assert.equal(deleted.text, "");
          assert.equal((await call("GET", `/v1/reviews/${adas.id}`, { token: ada })).status, 404);
          assert.equal((await call("DELETE", `/v1/reviews/${adas.id}`, { token: ada })).status, 404);
          assert.equal((await call("DELETE", `/v1/reviews/${bobs.id}`, { token: admin })).status, 204);
          assert.equal((await publicList(productId)).total, 0);
          assert.equal((await call("DELETE", "/v1/reviews/nope", { token: ada })).status, 400);
        });

        await t.step("the moderation list filters by status and product, oldest first, paged", async () => {
          const productId = service.newProductId();
          const written = [];
          for (let i = 0; i < 3; i++) written.push(await submit(productId, await service.customer()));
          await approve(written[1].id);
          const seen: string[] = [];
          let cursor: string | null = null;
          do {
            const query: string = `?productId=${productId}&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
            const page = await call("GET", `/v1/reviews${query}`, { token: admin });
            assert.equal(page.status, 200);
            assert.equal(page.body.total, 3);
            seen.push(...page.body.items.map((r: { id: string }) => r.id));
            cursor = page.body.nextCursor;
          } while (cursor);
          assert.deepEqual(seen, written.map((r) => r.id));
          const pending = await call("GET", `/v1/reviews?status=pending&productId=${productId}`, {
            token: admin,
          });
          assert.deepEqual(pending.body.items.map((r: { id: string }) => r.id), [
            written[0].id,
            written[2].id,
          ]);
          assert.equal((await call("GET", "/v1/reviews?status=hidden", { token: admin })).status, 400);
          assert.equal((await call("GET", "/v1/reviews?productId=1", { token: admin })).status, 400);
        });

        // Last: the catalog does not come back.
        await t.step("while the catalog is away, a review answers 503 and nothing is stored", async () => {
          const productId = service.newProductId();
          const before = await mineTotal(ada);
          await service.stopCatalog();
          const refused = await call("POST", `/v1/products/${productId}/reviews`, {
            token: ada,
            body: reviewBody(),
          });
          assert.equal(refused.status, 503, JSON.stringify(refused.body));
          assert.equal(refused.body.type, "urn:multishop:problem:dependency-unavailable");
          assert.equal(refused.headers.get("retry-after"), "5");
          assert.equal(await mineTotal(ada), before);
          assert.equal((await publicList(productId)).total, 0, "reading reviews needs no catalog");
        });
      } finally {
        await service.close();
      }
    },
  );
}
