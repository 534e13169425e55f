/**
 * The order service's use cases: addresses, placing an order, reading and cancelling orders, and the
 * checkout saga's driver. The saga's rules are domain.ts's; this file persists each transition and
 * writes the commands it sends to the outbox in the same transaction, so a transition and its
 * messages exist together or not at all.
 */
import type { Principal } from "@multishop/kit/auth";
import type { AddressInput } from "@multishop/kit/contracts/addresses";
import { cargoEvents } from "@multishop/kit/contracts/cargo";
import { discountMessages, inventoryMessages, paymentMessages } from "@multishop/kit/contracts/checkout";
import { orderEvents } from "@multishop/kit/contracts/orders";
import { sha256Hex } from "@multishop/kit/digest";
import type { Logger } from "@multishop/kit/log";
import { enqueue, type Envelope, handleOnce } from "@multishop/kit/messaging";
import type { Sql, TransactionSql } from "@multishop/kit/postgres";
import { ProblemError } from "@multishop/kit/problem";
import { ServiceUnavailableError } from "@multishop/kit/service-client";
import type { Baskets, PaymentMethods } from "./clients.ts";
import {
  afterReply,
  cancel,
  cancelByCustomer,
  initialState,
  type Order,
  type OrderStatus,
  type PlaceOrderInput,
  type ReplyType,
  statusAfterShipment,
  stepCommand,
  type Transition,
} from "./domain.ts";
import type { OrderPage, OrderStore, StoredAddress } from "./store/postgres.ts";

export interface OrdersDeps {
  sql: Sql;
  store: OrderStore;
  baskets: Baskets;
  paymentMethods: PaymentMethods;
  /** Told after each commit that wrote to the outbox, so commands go out without waiting for its poll. */
  outbox: { notify(): void };
  logger: Logger;
  stepTimeoutSeconds: number;
}

/** The queue the order service's replies arrive on; its inbox records them per this name. */
export const orderQueue = "order";

const replySchemas = { ...inventoryMessages, ...discountMessages, ...paymentMessages };

const notFound = (what: string) => new ProblemError({ status: 404, detail: `no such ${what}` });
const unavailable = (what: string) =>
  new ProblemError({
    status: 503,
    kind: "dependency-unavailable",
    detail: `the ${what} cannot be reached; try again shortly`,
    headers: { "retry-after": "5" },
  });

/**
 * What makes two requests with one idempotency key the same request. The card is named by its last
 * four digits, expiry and holder: a digest of the full number could be reversed by trying every
 * number, and the service keeps no card.
 */
function requestDigest(input: PlaceOrderInput): Promise<string> {
  const { cardNumber, expMonth, expYear, holder } = input.payment;
  const last4 = cardNumber.replace(/[^0-9]/g, "").slice(-4);
  return sha256Hex(JSON.stringify([input.addressId, last4, expMonth, expYear, holder]));
}

export function createOrders(deps: OrdersDeps) {
  const { sql, store, outbox, logger, stepTimeoutSeconds } = deps;

  /** Saves the transition and writes its messages to the outbox, in the caller's transaction. */
  async function apply(tx: TransactionSql, order: Order, transition: Transition, causationId?: string) {
    await store.saveState(tx, order.id, transition.state, stepTimeoutSeconds);
    for (const command of transition.commands) {
      await enqueue(tx, command.type, command.schema, command.payload, {
        correlationId: order.id,
        causationId,
      });
    }
    if (transition.confirmed) {
      await enqueue(tx, "order.confirmed", orderEvents["order.confirmed"], {
        orderId: order.id,
        userId: order.userId,
        lines: order.lines,
        address: order.address,
        total: { amount: order.total, currency: order.currency },
      }, { correlationId: order.id, causationId });
    }
    if (transition.state.status !== order.status) {
      await announceStatus(tx, order, order.status, transition.state, causationId);
    }
  }

  /** `order.status_changed`, written with the change; a new order's previous status is null. */
  async function announceStatus(
    tx: TransactionSql,
    order: Order,
    previousStatus: OrderStatus | null,
    now: Pick<Order, "status" | "cancellationReason">,
    causationId?: string,
  ) {
    await enqueue(tx, "order.status_changed", orderEvents["order.status_changed"], {
      orderId: order.id,
      userId: order.userId,
      status: now.status,
      previousStatus,
      cancellationReason: now.cancellationReason,
    }, { correlationId: order.id, causationId });
  }

  function mismatch(): ProblemError {
    return new ProblemError({
      status: 422,
      kind: "idempotency-key-reused",
      detail: "this Idempotency-Key was used for a different request; use a new key for a new order",
      errors: [{ field: "header.idempotency-key", reason: "was used for a different request" }],
    });
  }

  /** The order a repeated request made, or a 422 when the key was used for another request. */
  function replay(found: { order: Order; requestDigest: string }, digest: string): Order {
    if (found.requestDigest !== digest) throw mismatch();
    return found.order;
  }

  async function ownOrder(principal: Principal, id: string): Promise<Order> {
    const order = await store.findOrder(id);
    // Another customer's order answers like a missing one, so ids reveal nothing.
    if (!order || (order.userId !== principal.subject && !principal.roles.includes("admin"))) {
      throw notFound("order");
    }
    return order;
  }

  return {
    listAddresses: (userId: string) => store.listAddresses(userId),

    async address(userId: string, id: string): Promise<StoredAddress> {
      const address = await store.findAddress(userId, id);
      if (!address) throw notFound("address");
      return address;
    },

    createAddress: (userId: string, input: AddressInput) => store.insertAddress(userId, input),

    async replaceAddress(userId: string, id: string, input: AddressInput): Promise<StoredAddress> {
      const address = await store.replaceAddress(userId, id, input);
      if (!address) throw notFound("address");
      return address;
    },

    async deleteAddress(userId: string, id: string): Promise<void> {
      if (!await store.deleteAddress(userId, id)) throw notFound("address");
    },

    /**
     * Places an order from the caller's basket and starts its saga. Answers `created: false` with the
     * order an earlier request with this key made.
     */
    async place(
      request: { userId: string; bearerToken: string; idempotencyKey: string; input: PlaceOrderInput },
    ): Promise<{ order: Order; created: boolean }> {
      const { userId, idempotencyKey, input } = request;
      const digest = await requestDigest(input);
      const earlier = await store.findByIdempotencyKey(userId, idempotencyKey);
      if (earlier) return { order: replay(earlier, digest), created: false };

      const address = await store.findAddress(userId, input.addressId);
      if (!address) {
        throw new ProblemError({
          status: 422,
          kind: "unknown-address",
          detail: "no such address among yours",
          errors: [{ field: "addressId", reason: "is not one of your addresses" }],
        });
      }
      const basket = await deps.baskets.basketOf(request.bearerToken).catch((error) => {
        if (error instanceof ServiceUnavailableError) throw unavailable("basket");
        throw error;
      });
      // Lines no longer sold are not charged by the basket's totals, so they are not ordered either.
      const lines = basket.lines.filter((line) => line.available);
      if (lines.length === 0) {
        throw new ProblemError({
          status: 422,
          kind: "empty-basket",
          detail: "the basket has nothing to order",
        });
      }
      const paymentMethodId = await deps.paymentMethods.tokenize(input.payment).catch((error) => {
        if (error instanceof ServiceUnavailableError) throw unavailable("payment service");
        throw error;
      });
      const { id: _, createdAt: _c, updatedAt: _u, ...shipTo } = address;
      const coupon = basket.coupon?.valid ? basket.coupon : null;
      const placed = await store.insertOrder({
        id: crypto.randomUUID(),
        userId,
        idempotencyKey,
        requestDigest: digest,
        stepTimeoutSeconds,
        ...initialState,
        lines: lines.map(({ productId, name, unitPrice, quantity }) => ({
          productId,
          name,
          unitPrice,
          quantity,
        })),
        currency: basket.totals.total.currency,
        subtotal: basket.totals.subtotal.amount,
        discount: basket.totals.discount.amount,
        total: basket.totals.total.amount,
        couponCode: coupon?.code ?? null,
        address: shipTo,
        paymentMethodId,
      }, async (tx, order) => {
        const first = stepCommand(order, "reserve_stock");
        await enqueue(tx, first.type, first.schema, first.payload, { correlationId: order.id });
        await announceStatus(tx, order, null, order);
      });
      if (!placed.created) return { order: replay(placed, digest), created: false };
      outbox.notify();
      logger.info("order placed", { orderId: placed.order.id, total: placed.order.total });
      return { order: placed.order, created: true };
    },

    order: ownOrder,

    listOrders: (filter: { userId?: string; status?: OrderStatus }, page: OrderPage) =>
      store.listOrders(filter, page),

    countByStatus: () => store.countByStatus(),

    /** The customer (or an admin) cancels; 409 when the order has shipped or was cancelled already. */
    async cancel(principal: Principal, id: string): Promise<Order> {
      await ownOrder(principal, id);
      const cancelled = await sql.begin(async (tx) => {
        const order = (await store.lockOrder(tx, id))!;
        const transition = cancelByCustomer(order);
        if (!transition) return undefined;
        await apply(tx, order, transition);
        return true;
      });
      if (!cancelled) {
        throw new ProblemError({
          status: 409,
          kind: "not-cancellable",
          detail: "only a pending or confirmed order that has not shipped can be cancelled",
        });
      }
      outbox.notify();
      return (await store.findOrder(id))!;
    },

    /**
     * Takes one reply of a checkout step. The inbox makes a redelivered reply a no-op, and the
     * order's row lock makes concurrent replies of one order take turns.
     */
    async handleReply(envelope: Envelope): Promise<void> {
      const type = envelope.type as ReplyType;
      const { orderId } = replySchemas[type].parse(envelope.payload);
      let changed = false;
      await handleOnce(sql, orderQueue, envelope, async (tx) => {
        const order = await store.lockOrder(tx, orderId);
        if (!order) return;
        const transition = afterReply(order, type);
        if (!transition) return;
        await apply(tx, order, transition, envelope.id);
        changed = true;
      });
      if (changed) outbox.notify();
    },

    /**
     * Follows the order's shipment: its tracking code, then shipped and delivered. Handled once
     * through the inbox; the status change is announced like every other.
     */
    async handleShipment(envelope: Envelope): Promise<void> {
      let announced = false;
      await handleOnce(sql, orderQueue, envelope, async (tx) => {
        const change = envelope.type === "cargo.shipment.status_changed"
          ? cargoEvents["cargo.shipment.status_changed"].parse(envelope.payload)
          : undefined;
        const { orderId, trackingCode } = change ??
          cargoEvents["cargo.shipment.created"].parse(envelope.payload);
        const order = await store.lockOrder(tx, orderId);
        if (!order) return;
        const status = change && statusAfterShipment(order, change.status);
        await store.saveShipment(tx, orderId, { trackingCode, status });
        if (!status) return;
        await announceStatus(tx, order, order.status, { status, cancellationReason: null }, envelope.id);
        announced = true;
      });
      if (announced) outbox.notify();
    },

    /** Cancels orders whose step got no reply before its deadline, `timeout`; returns how many. */
    async failOverdue(): Promise<number> {
      const failed = await sql.begin(async (tx) => {
        const overdue = await store.lockOverdue(tx, 100);
        for (const order of overdue) await apply(tx, order, cancel(order, "timeout"));
        return overdue.length;
      });
      if (failed > 0) outbox.notify();
      return failed;
    },

    /**
     * Sends the waiting step's command again for every order in checkout, with a fresh deadline: after
     * a restart its reply may have been lost with the old instance. The other services answer a
     * repeated command for an order with the outcome they recorded, so repeating is safe.
     */
    async resume(): Promise<number> {
      const inFlight = await store.inFlight();
      for (const stale of inFlight) {
        await sql.begin(async (tx) => {
          const order = await store.lockOrder(tx, stale.id);
          if (!order?.step) return;
          await store.restartStep(tx, order.id, stepTimeoutSeconds);
          const command = stepCommand(order, order.step);
          await enqueue(tx, command.type, command.schema, command.payload, { correlationId: order.id });
        });
      }
      if (inFlight.length > 0) outbox.notify();
      return inFlight.length;
    },
  };
}

export type Orders = ReturnType<typeof createOrders>;
