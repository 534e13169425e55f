/**
 * The dashboard's figures and how the readings of their sources merge into them; no I/O here. The
 * owning services are the source of truth: these are copies, each kept from its last good reading.
 */
import type { z } from "zod";
import { catalogEvents } from "@multishop/kit/contracts/catalog";
import { messageEvents, supportReceiver } from "@multishop/kit/contracts/messages";
import { orderEvents, orderStatus } from "@multishop/kit/contracts/orders";
import { reviewEvents } from "@multishop/kit/contracts/reviews";

/** The services the figures are read from, in the order `unavailable` lists them. */
export const sources = ["identity", "catalog", "order", "comment", "message"] as const;
export type Source = (typeof sources)[number];

export type OrderStatus = z.infer<typeof orderStatus>;
export const orderStatuses = orderStatus.options;
export type OrderCounts = Record<OrderStatus, number>;

/** What one reading of each source gives. */
export interface SourceFigures {
  identity: { users: number };
  catalog: { products: number; categories: number; brands: number };
  order: { orders: OrderCounts };
  comment: { pendingReviews: number };
  message: { unreadSupportMessages: number };
}

/** A figure is null until its source has been read once. */
export interface Figures {
  users: number | null;
  products: number | null;
  categories: number | null;
  brands: number | null;
  orders: OrderCounts | null;
  pendingReviews: number | null;
  unreadSupportMessages: number | null;
  /** When a figure or `unavailable` last changed (RFC 3339). */
  updatedAt: string;
  /** The sources whose last read failed; their figures keep the last value read. */
  unavailable: Source[];
}

const counts = [
  "users",
  "products",
  "categories",
  "brands",
  "pendingReviews",
  "unreadSupportMessages",
] as const;

export function initialFigures(now: Date): Figures {
  return {
    users: null,
    products: null,
    categories: null,
    brands: null,
    orders: null,
    pendingReviews: null,
    unreadSupportMessages: null,
    updatedAt: now.toISOString(),
    unavailable: [],
  };
}

/**
 * The figures with a source's new reading, and the source available again. When nothing changed,
 * the very same object comes back, so that nobody is told of a change that is none.
 */
export function withReading<S extends Source>(
  figures: Figures,
  source: S,
  reading: SourceFigures[S],
  now: Date,
): Figures {
  const next = { ...figures, ...reading, unavailable: figures.unavailable.filter((s) => s !== source) };
  return sameFigures(figures, next) ? figures : { ...next, updatedAt: now.toISOString() };
}

/** The figures with the source marked unavailable; its figures stay as last read. */
export function withUnavailable(figures: Figures, source: Source, now: Date): Figures {
  if (figures.unavailable.includes(source)) return figures;
  return {
    ...figures,
    unavailable: sources.filter((s) => s === source || figures.unavailable.includes(s)),
    updatedAt: now.toISOString(),
  };
}

/** Equal in every figure and in availability; `updatedAt` is not a figure. */
export function sameFigures(a: Figures, b: Figures): boolean {
  return counts.every((name) => a[name] === b[name]) &&
    sameOrderCounts(a.orders, b.orders) &&
    a.unavailable.length === b.unavailable.length &&
    a.unavailable.every((source) => b.unavailable.includes(source));
}

function sameOrderCounts(a: OrderCounts | null, b: OrderCounts | null): boolean {
  if (a === null || b === null) return a === b;
  return orderStatuses.every((status) => a[status] === b[status]);
}

/** The events the dashboard consumes, and the contracts their payloads follow. */
export const consumedContracts = {
  "catalog.product.created": catalogEvents["catalog.product.created"],
  "catalog.product.deleted": catalogEvents["catalog.product.deleted"],
  "order.status_changed": orderEvents["order.status_changed"],
  "comment.review.status_changed": reviewEvents["comment.review.status_changed"],
  "message.sent": messageEvents["message.sent"],
  "message.read": messageEvents["message.read"],
} as const;

type Consumed = typeof consumedContracts;

/** A consumed event with its payload as its contract defines it. */
export type ConsumedEvent = {
  [T in keyof Consumed]: { type: T; payload: z.infer<Consumed[T]> };
}[keyof Consumed];

/** The source whose figures the event may have changed; undefined when it changed none shown here. */
export function affectedSource(event: ConsumedEvent): Source | undefined {
  switch (event.type) {
    case "catalog.product.created":
    case "catalog.product.deleted":
      return "catalog";
    case "order.status_changed":
      return "order";
    case "comment.review.status_changed": {
      // Only pending reviews are counted here: moving a review between approved and rejected changes none.
      const { status, previousStatus } = event.payload;
      return status === "pending" || previousStatus === "pending" ? "comment" : undefined;
    }
    case "message.sent":
    case "message.read":
      // Only support's unread messages are shown; users' messages to one another are theirs.
      return event.payload.receiverId === supportReceiver ? "message" : undefined;
  }
}
