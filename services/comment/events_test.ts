/**
 * The comment service's messages: verified purchases learnt from the order service's events, and the
 * review events it publishes through its outbox. On embedded PostgreSQL with the in-process bus, and
 * on real PostgreSQL with real RabbitMQ.
 */
import assert from "node:assert/strict";
import { amqpTarget, postgresTargets } from "@multishop/kit/testing";
import {
  eventually,
  orderConfirmed,
  orderStatusChanged,
  reviewBody,
  startTestComment,
} from "./test_support.ts";

const amqp = await amqpTarget();

for (const target of await postgresTargets()) {
  const onRabbitMq = target.name === "real";
  const skip = target.skip ?? (onRabbitMq ? amqp.skip : undefined);
  Deno.test(
    {
      name: `comment events on ${target.name} PostgreSQL with ${
        onRabbitMq ? "RabbitMQ" : "the in-process bus"
      }`,
      ignore: Boolean(skip),
    },
    async (t) => {
      const service = await startTestComment(target, { amqpUrl: onRabbitMq ? amqp.url() : undefined });
      const { call } = service;
      const admin = await service.admin();

      /** A customer who can write reviews, with their id for the order events. */
      const newCustomer = async () => {
        const userId = crypto.randomUUID();
        return { userId, token: await service.customer(userId) };
      };
      const submit = async (productId: string, token: string) => {
        const response = await call("POST", `/v1/products/${productId}/reviews`, {
          token,
          body: reviewBody(),
        });
        assert.equal(response.status, 201, JSON.stringify(response.body));
        return response.body;
      };
      const verified = async (reviewId: string, token: string): Promise<boolean> => {
        const response = await call("GET", `/v1/reviews/${reviewId}`, { token });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        return response.body.verifiedPurchase;
      };
      const eventsOf = (reviewId: string) =>
        service.published.filter((event) => (event.payload as { reviewId?: string }).reviewId === reviewId);

      try {
        await t.step(
          "order.confirmed makes reviews of its products verified purchases, and only those",
          async () => {
            const { userId, token } = await newCustomer();
            const [ordered, alsoOrdered, notOrdered] = [
              service.newProductId(),
              service.newProductId(),
              service.newProductId(),
            ];
            const writtenBefore = await submit(ordered, token);
            assert.equal(writtenBefore.verifiedPurchase, false);

            await service.sendOrderEvent(
              "order.confirmed",
              orderConfirmed(crypto.randomUUID(), userId, [ordered, alsoOrdered]),
            );
            await eventually(
              "the earlier review to become a verified purchase",
              () => verified(writtenBefore.id, token),
            );

            assert.equal(
              (await submit(alsoOrdered, token)).verifiedPurchase,
              true,
              "written after the order",
            );
            assert.equal(
              (await submit(notOrdered, token)).verifiedPurchase,
              false,
              "a product not in the order",
            );
            const someoneElse = await newCustomer();
            assert.equal(
              (await submit(ordered, someoneElse.token)).verifiedPurchase,
              false,
              "another customer",
            );

            await approveAll([writtenBefore.id]);
            const listed = await call("GET", `/v1/products/${ordered}/reviews`);
            assert.equal(listed.body.items[0].verifiedPurchase, true, "the public list shows it too");
          },
        );

        await t.step(
          "a cancelled order's purchases are forgotten, for earlier and later reviews",
          async () => {
            const { userId, token } = await newCustomer();
            const [reviewed, reviewedLater] = [service.newProductId(), service.newProductId()];
            const orderId = crypto.randomUUID();
            const review = await submit(reviewed, token);
            await service.sendOrderEvent(
              "order.confirmed",
              orderConfirmed(orderId, userId, [reviewed, reviewedLater]),
            );
            await eventually("the review to become a verified purchase", () => verified(review.id, token));

            await service.sendOrderEvent(
              "order.status_changed",
              orderStatusChanged(orderId, userId, "shipped", "confirmed"),
            );
            await service.sendOrderEvent(
              "order.status_changed",
              orderStatusChanged(orderId, userId, "cancelled", "shipped"),
            );
            await eventually(
              "the review to lose its verified purchase",
              async () => !await verified(review.id, token),
            );
            assert.equal(
              (await submit(reviewedLater, token)).verifiedPurchase,
              false,
              "a review after the cancellation",
            );
          },
        );

        await t.step(
          "another confirmed order of the product keeps the purchase when one is cancelled",
          async () => {
            const { userId, token } = await newCustomer();
            const productId = service.newProductId();
            const [first, second] = [crypto.randomUUID(), crypto.randomUUID()];
            await service.handleOrderEvent("order.confirmed", orderConfirmed(first, userId, [productId]));
            await service.handleOrderEvent("order.confirmed", orderConfirmed(second, userId, [productId]));
            await service.handleOrderEvent(
              "order.status_changed",
              orderStatusChanged(first, userId, "cancelled", "confirmed"),
            );
            assert.equal((await submit(productId, token)).verifiedPurchase, true);
          },
        );

        await t.step("a redelivered or late confirmation does not bring a cancelled order back", async () => {
          const { userId, token } = await newCustomer();
          const [redelivered, overtaken, productId] = [
            crypto.randomUUID(),
            crypto.randomUUID(),
            service.newProductId(),
          ];
          const confirmationId = crypto.randomUUID();
          await service.handleOrderEvent(
            "order.confirmed",
            orderConfirmed(redelivered, userId, [productId]),
            confirmationId,
          );
          await service.handleOrderEvent(
            "order.status_changed",
            orderStatusChanged(redelivered, userId, "cancelled", "confirmed"),
          );
          await service.handleOrderEvent(
            "order.confirmed",
            orderConfirmed(redelivered, userId, [productId]),
            confirmationId,
          );
          // The cancellation overtook its confirmation (a retried delivery): the confirmation comes too late.
          await service.handleOrderEvent(
            "order.status_changed",
            orderStatusChanged(overtaken, userId, "cancelled", "confirmed"),
          );
          await service.handleOrderEvent("order.confirmed", orderConfirmed(overtaken, userId, [productId]));
          assert.equal((await submit(productId, token)).verifiedPurchase, false);
        });

        await t.step("a checkout that failed before confirmation changes nothing", async () => {
          const { userId, token } = await newCustomer();
          const [confirmed, failed, productId] = [
            crypto.randomUUID(),
            crypto.randomUUID(),
            service.newProductId(),
          ];
          await service.handleOrderEvent("order.confirmed", orderConfirmed(confirmed, userId, [productId]));
          await service.handleOrderEvent(
            "order.status_changed",
            orderStatusChanged(failed, userId, "pending", null),
          );
          await service.handleOrderEvent(
            "order.status_changed",
            orderStatusChanged(failed, userId, "cancelled", "pending"),
          );
          assert.equal((await submit(productId, token)).verifiedPurchase, true);
        });

        await t.step("submission and each moderation publish comment.review.status_changed", async () => {
          const { userId, token } = await newCustomer();
          const productId = service.newProductId();
          const review = await submit(productId, token);
          await eventually("the submission's event", () => eventsOf(review.id).length === 1);
          const [submitted] = eventsOf(review.id);
          assert.equal(submitted.type, "comment.review.status_changed");
          assert.match(submitted.id, /^[0-9a-f-]{36}$/);
          assert.equal(submitted.correlationId, review.id);
          assert.deepEqual(submitted.payload, {
            reviewId: review.id,
            productId,
            userId,
            status: "pending",
            previousStatus: null,
          });

          assert.equal(
            (await call("POST", `/v1/reviews/${review.id}/approve`, { token: admin })).status,
            200,
          );
          assert.equal(
            (await call("POST", `/v1/reviews/${review.id}/approve`, { token: admin })).status,
            200,
          );
          assert.equal((await call("POST", `/v1/reviews/${review.id}/reject`, { token: admin })).status, 200);
          await eventually("the moderations' events", () => eventsOf(review.id).length >= 3);
          assert.deepEqual(
            eventsOf(review.id).map((event) => event.payload),
            [
              { reviewId: review.id, productId, userId, status: "pending", previousStatus: null },
              { reviewId: review.id, productId, userId, status: "approved", previousStatus: "pending" },
              { reviewId: review.id, productId, userId, status: "rejected", previousStatus: "approved" },
            ],
            "in order, and nothing for the approval that changed nothing",
          );
        });

        await t.step(
          "a customer's refused moderation, a duplicate and a deletion publish nothing",
          async () => {
            const { token } = await newCustomer();
            const productId = service.newProductId();
            const review = await submit(productId, token);
            assert.equal((await call("POST", `/v1/reviews/${review.id}/approve`, { token })).status, 403);
            assert.equal(
              (await call("POST", `/v1/products/${productId}/reviews`, { token, body: reviewBody() })).status,
              409,
            );
            assert.equal((await call("DELETE", `/v1/reviews/${review.id}`, { token })).status, 204);
            // Anything the requests above published was in the outbox before the next review's event.
            const marker = await submit(service.newProductId(), token);
            await eventually("the next review's event", () => eventsOf(marker.id).length === 1);
            assert.equal(eventsOf(review.id).length, 1, "only the submission");
          },
        );
      } finally {
        await service.close();
      }

      async function approveAll(ids: string[]) {
        for (const id of ids) {
          assert.equal((await call("POST", `/v1/reviews/${id}/approve`, { token: admin })).status, 200);
        }
      }
    },
  );
}
