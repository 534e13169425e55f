/**
 * The comment service's use cases: writing, reading, moderating and deleting reviews, the rating
 * summary, and the purchases learnt from the order service's events. The rules come from domain.ts,
 * the queries from store/; each status change and its event are written in one transaction, the
 * event to the outbox, so they exist together or not at all.
 */
import type { Principal } from "@multishop/kit/auth";
import { orderEvents } from "@multishop/kit/contracts/orders";
import { reviewEvents } from "@multishop/kit/contracts/reviews";
import type { Logger } from "@multishop/kit/log";
import { enqueue, type Envelope, handleOnce } from "@multishop/kit/messaging";
import type { Sql, TransactionSql } from "@multishop/kit/postgres";
import { ProblemError } from "@multishop/kit/problem";
import { ServiceUnavailableError } from "@multishop/kit/service-client";
import type { Catalog } from "./clients.ts";
import {
  type Moderation,
  type RatingSummary,
  type Review,
  type ReviewInput,
  type ReviewSort,
  type ReviewStatus,
  statusAfterModeration,
  summarizeRatings,
} from "./domain.ts";
import {
  type CommentStore,
  DuplicateReviewError,
  type Position,
  type ReviewFilter,
} from "./store/postgres.ts";

export interface ReviewsDeps {
  sql: Sql;
  store: CommentStore;
  /** Where a review's product is checked: only products on sale may be reviewed. */
  catalog: Catalog;
  /** Told after each commit that wrote to the outbox, so events go out without waiting for its poll. */
  outbox: { notify(): void };
  logger: Logger;
}

/** The queue the order service's events arrive on; the inbox records them per this name. */
export const commentQueue = "comment";

export interface Author {
  userId: string;
  /** The name the review is shown under (see authorName in domain.ts). */
  name: string;
}

const notFound = () => new ProblemError({ status: 404, detail: "no such review" });

const isAdmin = (principal: Principal) => principal.roles.includes("admin");

/**
 * Only products on sale may be reviewed, or anyone could fill the moderation queue with reviews of
 * ids that name nothing. Drafts and archived products are unknown to the public, so they answer
 * the same 404.
 */
async function checkOnSale(catalog: Catalog, productId: string): Promise<void> {
  let onSale: boolean;
  try {
    onSale = await catalog.isOnSale(productId);
  } catch (error) {
    if (!(error instanceof ServiceUnavailableError)) throw error;
    throw new ProblemError({
      status: 503,
      kind: "dependency-unavailable",
      detail: "the catalog cannot be reached to check the product; try again shortly",
      headers: { "retry-after": "5" },
    });
  }
  if (!onSale) {
    throw new ProblemError({
      status: 404,
      kind: "product-not-found",
      detail: "no product on sale has this id",
      errors: [{ field: "path.productId", reason: "is not a product on sale" }],
    });
  }
}

export function createReviews(deps: ReviewsDeps) {
  const { sql, store, catalog, outbox, logger } = deps;

  /** `comment.review.status_changed`, written with the change; a new review's previous status is null. */
  async function announceStatus(tx: TransactionSql, review: Review, previousStatus: ReviewStatus | null) {
    await enqueue(tx, "comment.review.status_changed", reviewEvents["comment.review.status_changed"], {
      reviewId: review.id,
      productId: review.productId,
      userId: review.userId,
      status: review.status,
      previousStatus,
    }, { correlationId: review.id });
  }

  return {
    /**
     * A new review, pending moderation; 404 when the product is not on sale, 409 when the author has
     * reviewed it already.
     */
    async submit(author: Author, productId: string, input: ReviewInput): Promise<Review> {
      await checkOnSale(catalog, productId);
      try {
        const review = await sql.begin(async (tx) => {
          const inserted = await store.insertReview(tx, {
            id: crypto.randomUUID(),
            productId,
            userId: author.userId,
            authorName: author.name,
            ...input,
          });
          await announceStatus(tx, inserted, null);
          return inserted;
        });
        outbox.notify();
        return review;
      } catch (error) {
        if (!(error instanceof DuplicateReviewError)) throw error;
        const reason = "you have reviewed this product already; delete that review to write a new one";
        throw new ProblemError({
          status: 409,
          kind: "review-exists",
          detail: reason,
          errors: [{ field: "path.productId", reason }],
        });
      }
    },

    /** One review, for its author or an admin; anyone else is told it does not exist. */
    async review(principal: Principal, id: string): Promise<Review> {
      const review = await store.findReview(id);
      if (!review || (review.userId !== principal.subject && !isAdmin(principal))) throw notFound();
      return review;
    },

    /** Approves or rejects; a moderation that changes nothing answers the review as it is. */
    async moderate(id: string, moderation: Moderation): Promise<Review> {
      const outcome = await sql.begin(async (tx) => {
        const review = await store.lockReview(tx, id);
        if (!review) return undefined;
        const next = statusAfterModeration(review, moderation);
        if (!next) return { review, changed: false };
        const moderated = await store.setStatus(tx, id, next);
        await announceStatus(tx, moderated, review.status);
        return { review: moderated, changed: true };
      });
      if (!outcome) throw notFound();
      if (outcome.changed) {
        outbox.notify();
        logger.info("review moderated", { reviewId: id, status: outcome.review.status });
      }
      return outcome.review;
    },

    /**
     * Deletes the caller's review (an admin: any review). Nothing is published: the review event's
     * contract has no status for a review that is gone.
     */
    async delete(principal: Principal, id: string): Promise<void> {
      const deleted = await store.deleteReview(
        id,
        isAdmin(principal) ? undefined : { userId: principal.subject },
      );
      if (!deleted) throw notFound();
    },

    listApproved: (productId: string, options: { sort: ReviewSort; limit: number; after?: Position }) =>
      store.listApproved(productId, options),

    listReviews: (
      filter: ReviewFilter,
      options: { newestFirst: boolean; limit: number; after?: Pick<Position, "seq"> },
    ) => store.listReviews(filter, options),

    async ratingSummary(productId: string): Promise<RatingSummary & { productId: string }> {
      return { productId, ...summarizeRatings(await store.ratingCounts(productId)) };
    },

    stats: () => store.countByStatus(),

    /** `order.confirmed`: the order's products become the customer's purchases. Handled once. */
    async orderConfirmed(envelope: Envelope): Promise<void> {
      const { orderId, userId, lines } = orderEvents["order.confirmed"].parse(envelope.payload);
      const productIds = [...new Set(lines.map((line) => line.productId.toLowerCase()))];
      await handleOnce(sql, commentQueue, envelope, async (tx) => {
        await store.recordConfirmedOrder(tx, { orderId, userId, productIds });
      });
    },

    /** `order.status_changed`: a cancelled order's products are no longer purchases. Handled once. */
    async orderStatusChanged(envelope: Envelope): Promise<void> {
      const { orderId, userId, status, previousStatus } = orderEvents["order.status_changed"].parse(
        envelope.payload,
      );
      // An order cancelled while still pending was never confirmed, and never will be: nothing to forget.
      if (status !== "cancelled" || previousStatus === null || previousStatus === "pending") return;
      await handleOnce(sql, commentQueue, envelope, async (tx) => {
        await store.recordCancelledOrder(tx, { orderId, userId });
      });
    },
  };
}

export type Reviews = ReturnType<typeof createReviews>;
