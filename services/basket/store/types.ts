/**
 * What the basket needs from a store. The Redis store and the in-process store both implement it,
 * and both pass store/contract_test.ts.
 */
import type { Money } from "@multishop/kit/contracts/money";

/** A line keeps the catalog's name, price and image as they were last seen: the client never sends them. */
export interface BasketLine {
  productId: string;
  name: string;
  unitPrice: Money;
  image: string | null;
  quantity: number;
  /** False once the product was archived, made a draft or deleted; such a line is not charged. */
  available: boolean;
  /**
   * When the catalog's product was as this line shows it (its `updatedAt`, or a catalog event's
   * `occurredAt`), so that an older event arriving late leaves the line alone. Absent on lines
   * stored before it was kept: any event then applies.
   */
  catalogAsOf?: string;
}

export interface Basket {
  userId: string;
  lines: BasketLine[];
  couponCode: string | null;
  /** RFC 3339. */
  updatedAt: string;
}

/**
 * Computes the next basket from the current one (undefined when the user has none). Returning
 * undefined leaves the store untouched. It must be pure and synchronous: a store may call it again
 * with a fresher basket when another update got in first. Whatever it throws reaches the caller and
 * nothing is stored.
 */
export type BasketChange = (current: Basket | undefined) => Basket | undefined;

export interface BasketStore {
  get(userId: string): Promise<Basket | undefined>;
  /**
   * Applies `change` atomically to one user's basket: concurrent updates of the same basket are
   * serialised or retried, never lost. A written basket expires `ttlSeconds` after its last change.
   * Answers the basket as stored (or as it was, when `change` returned undefined).
   */
  update(userId: string, change: BasketChange): Promise<Basket | undefined>;
  delete(userId: string): Promise<boolean>;
  /** The users whose basket has a line for this product, kept current by update and delete. */
  basketsWithProduct(productId: string): Promise<string[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
