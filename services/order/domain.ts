/**
 * The order service's rules, without I/O: the shapes clients send, and the checkout saga as a state
 * machine: given where an order stands and the reply that arrived, what it becomes and which commands
 * go out. The store persists each step in the transaction that records the reply as handled.
 */
import { z } from "@hono/zod-openapi";
import type { Address } from "@multishop/kit/contracts/addresses";
import type { shipmentStatus } from "@multishop/kit/contracts/cargo";
import { discountMessages, inventoryMessages, paymentMessages } from "@multishop/kit/contracts/checkout";
import { cardInput } from "@multishop/kit/contracts/payment-methods";
import type { Money } from "@multishop/kit/contracts/money";
import { orderStatus } from "@multishop/kit/contracts/orders";
import { uuidId } from "@multishop/kit/formats";

export const placeOrderInput = z.strictObject({
  addressId: uuidId("must be an address id"),
  payment: cardInput,
}).openapi("PlaceOrderInput");

export type PlaceOrderInput = z.infer<typeof placeOrderInput>;

/** The public statuses, as the order events carry them. */
export const orderStatuses = orderStatus.options;
export type OrderStatus = (typeof orderStatuses)[number];

export const cancellationReasons = [
  "out_of_stock",
  "coupon_invalid",
  "payment_declined",
  "timeout",
  "user_cancelled",
] as const;
export type CancellationReason = (typeof cancellationReasons)[number];

/** Where a pending order's saga waits for a reply. */
export type Step = "reserve_stock" | "reserve_coupon" | "charge" | "commit_stock";

export interface OrderLine {
  productId: string;
  name: string;
  unitPrice: Money;
  quantity: number;
}

export interface Order {
  id: string;
  userId: string;
  status: OrderStatus;
  cancellationReason: CancellationReason | null;
  lines: OrderLine[];
  currency: string;
  subtotal: number;
  discount: number;
  total: number;
  couponCode: string | null;
  address: Address;
  paymentMethodId: string;
  step: Step | null;
  stepDeadline: Date | null;
  /** The shipment's, once the cargo service created it. */
  trackingCode: string | null;
  stockReserved: boolean;
  couponReserved: boolean;
  captured: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** The saga's part of an order: what a transition changes. */
export type SagaState = Pick<
  Order,
  "status" | "cancellationReason" | "step" | "stockReserved" | "couponReserved" | "captured"
>;

const contracts = { ...inventoryMessages, ...discountMessages, ...paymentMessages };
type CommandType =
  | "inventory.reserve"
  | "inventory.commit"
  | "inventory.release"
  | "inventory.return"
  | "discount.reserve"
  | "discount.commit"
  | "discount.release"
  | "discount.return"
  | "payment.charge"
  | "payment.refund";

export interface Command {
  type: CommandType;
  schema: z.ZodType;
  payload: unknown;
}

function command<T extends CommandType>(type: T, payload: z.input<(typeof contracts)[T]>): Command {
  return { type, schema: contracts[type], payload };
}

/** The replies the saga listens to. */
export const replyTypes = [
  "inventory.reserved",
  "inventory.reservation_failed",
  "discount.reserved",
  "discount.rejected",
  "payment.charged",
  "payment.failed",
  "inventory.committed",
  "inventory.commit_failed",
] as const;
export type ReplyType = (typeof replyTypes)[number];

/** The step each reply answers. */
const stepOf: Record<ReplyType, Step> = {
  "inventory.reserved": "reserve_stock",
  "inventory.reservation_failed": "reserve_stock",
  "discount.reserved": "reserve_coupon",
  "discount.rejected": "reserve_coupon",
  "payment.charged": "charge",
  "payment.failed": "charge",
  "inventory.committed": "commit_stock",
  "inventory.commit_failed": "commit_stock",
};

export interface Transition {
  state: SagaState;
  commands: Command[];
  /** The order has just been confirmed: `order.confirmed` goes out. */
  confirmed: boolean;
}

/** The command that starts (or, after a restart, repeats) a step. */
export function stepCommand(order: Order, step: Step): Command {
  const id = order.id;
  switch (step) {
    case "reserve_stock":
      return command("inventory.reserve", {
        orderId: id,
        lines: order.lines.map(({ productId, quantity }) => ({ productId, quantity })),
      });
    case "reserve_coupon":
      return command("discount.reserve", {
        orderId: id,
        code: order.couponCode!,
        userId: order.userId,
        subtotal: { amount: order.subtotal, currency: order.currency },
      });
    case "charge":
      return command("payment.charge", {
        orderId: id,
        paymentMethodId: order.paymentMethodId,
        amount: { amount: order.total, currency: order.currency },
      });
    case "commit_stock":
      return command("inventory.commit", { orderId: id });
  }
}

/** The state of an order just placed: its saga starts by reserving stock. */
export const initialState: SagaState = {
  status: "pending",
  cancellationReason: null,
  step: "reserve_stock",
  stockReserved: false,
  couponReserved: false,
  captured: false,
};

/**
 * What a reply does to the order, or undefined when it changes nothing (a duplicate, or a reply to a
 * step the order has left). A reply that arrives after the order was cancelled, saying a step
 * succeeded after all (it timed out, or the customer cancelled meanwhile), is undone at once.
 */
export function afterReply(order: Order, reply: ReplyType): Transition | undefined {
  if (order.status !== "pending" || order.step !== stepOf[reply]) return undoLate(order, reply);
  const state: SagaState = { ...order };
  switch (reply) {
    case "inventory.reserved": {
      const next: Step = order.couponCode ? "reserve_coupon" : "charge";
      return {
        state: { ...state, stockReserved: true, step: next },
        commands: [stepCommand(order, next)],
        confirmed: false,
      };
    }
    // The discount granted is the one the order's totals carry: the basket asked the discount
    // service's same rules for the same code and subtotal.
    case "discount.reserved":
      return {
        state: { ...state, couponReserved: true, step: "charge" },
        commands: [stepCommand(order, "charge")],
        confirmed: false,
      };
    // Paid; confirmed only once the stock is sure: a reservation that expired while this service
    // was away may have lost its units, and the order is then cancelled and refunded.
    case "payment.charged":
      return {
        state: { ...state, captured: true, step: "commit_stock" },
        commands: [stepCommand(order, "commit_stock")],
        confirmed: false,
      };
    case "inventory.committed":
      return {
        state: { ...state, step: null, status: "confirmed" },
        commands: order.couponCode ? [command("discount.commit", { orderId: order.id })] : [],
        confirmed: true,
      };
    case "inventory.commit_failed":
      return cancel(order, "out_of_stock");
    case "inventory.reservation_failed":
      return cancel(order, "out_of_stock");
    case "discount.rejected":
      return cancel(order, "coupon_invalid");
    case "payment.failed":
      return cancel(order, "payment_declined");
  }
}

function undoLate(order: Order, reply: ReplyType): Transition | undefined {
  if (order.status !== "cancelled") return undefined;
  const undo = (commands: Command[], state: Partial<SagaState> = {}) => ({
    state: { ...order, ...state },
    commands,
    confirmed: false,
  });
  switch (reply) {
    case "inventory.reserved":
      return undo([command("inventory.release", { orderId: order.id })]);
    case "discount.reserved":
      return undo([command("discount.release", { orderId: order.id })]);
    case "payment.charged":
      return order.captured ? undefined : undo([command("payment.refund", { orderId: order.id })], {
        captured: true,
      });
    default:
      return undefined;
  }
}

/**
 * Cancels a pending order and undoes, newest first, every step that was done or may be under way:
 * a release that reaches a service before the reservation it undoes is repeated when that
 * reservation's late reply arrives (see undoLate). A charge is refunded only once known captured,
 * since the payment service refuses to refund what it has not taken. Stock whose commit may be under
 * way is returned rather than released: a return undoes a commit too, and a release would be refused.
 */
export function cancel(order: Order, reason: CancellationReason): Transition {
  const mayHold = (step: Step, done: boolean) => done || order.step === step;
  const stockUndo = order.step === "commit_stock" ? "inventory.return" : "inventory.release";
  const commands = [
    ...(order.captured ? [command("payment.refund", { orderId: order.id })] : []),
    ...(order.couponCode && mayHold("reserve_coupon", order.couponReserved)
      ? [command("discount.release", { orderId: order.id })]
      : []),
    ...(mayHold("reserve_stock", order.stockReserved) ? [command(stockUndo, { orderId: order.id })] : []),
  ];
  return {
    state: { ...order, status: "cancelled", cancellationReason: reason, step: null },
    commands,
    confirmed: false,
  };
}

/**
 * The customer cancels. A pending order is compensated like a failed one. A confirmed one (not yet
 * shipped) is undone whole: the payment is refunded, the coupon use and the committed stock are
 * returned.
 */
export function cancelByCustomer(order: Order): Transition | undefined {
  if (order.status === "pending") return cancel(order, "user_cancelled");
  if (order.status !== "confirmed") return undefined;
  return {
    state: { ...order, status: "cancelled", cancellationReason: "user_cancelled", step: null },
    commands: [
      command("payment.refund", { orderId: order.id }),
      ...(order.couponCode ? [command("discount.return", { orderId: order.id })] : []),
      command("inventory.return", { orderId: order.id }),
    ],
    confirmed: false,
  };
}

/** Where a shipment has got to, as the cargo service reports it. */
export type ShipmentStatus = z.infer<typeof shipmentStatus>;

/**
 * The status a shipment's progress moves the order to, or undefined when it changes nothing: the
 * carrier has it (shipped), or it arrived (delivered). An order only moves forward, so a late or
 * repeated report cannot take it back; a cancelled order stays cancelled.
 */
export function statusAfterShipment(
  order: Pick<Order, "status">,
  shipment: ShipmentStatus,
): OrderStatus | undefined {
  const moving = shipment === "picked_up" || shipment === "in_transit" || shipment === "out_for_delivery";
  if (moving && order.status === "confirmed") return "shipped";
  if (shipment === "delivered" && (order.status === "confirmed" || order.status === "shipped")) {
    return "delivered";
  }
  return undefined;
}
