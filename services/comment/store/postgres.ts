/** The comment service's PostgreSQL adapter: every query the service makes, and nothing else. */
import { isUniqueViolation, type Sql, type TransactionSql } from "@multishop/kit/postgres";
import type { Rating, RatingCounts, Review, ReviewSort, ReviewStatus } from "../domain.ts";

export class DuplicateReviewError extends Error {
  constructor(readonly productId: string) {
    super(`the customer has reviewed product ${productId} already`);
  }
}

interface ReviewRow {
  id: string;
  seq: string;
  product_id: string;
  user_id: string;
  author_name: string;
  rating: Rating;
  title: string;
  text: string;
  status: ReviewStatus;
  rejection_reason: string | null;
  verified_purchase: boolean;
  created_at: Date;
  updated_at: Date;
  moderated_at: Date | null;
}

const toReview = (row: ReviewRow): Review => ({
  id: row.id,
  seq: row.seq,
  productId: row.product_id,
  userId: row.user_id,
  authorName: row.author_name,
  rating: row.rating,
  title: row.title,
  text: row.text,
  status: row.status,
  rejectionReason: row.rejection_reason,
  verifiedPurchase: row.verified_purchase,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  moderatedAt: row.moderated_at,
});

type Db = Sql | TransactionSql;

/**
 * The review's columns, for queries on `reviews r`. A purchase is looked up as the review is read,
 * so a review shows verified as soon as its author's order is confirmed, and stops when it is cancelled.
 */
const reviewColumns = (db: Db) =>
  db`r.id, r.seq, r.product_id, r.user_id, r.author_name, r.rating, r.title, r.text, r.status,
     r.rejection_reason, r.created_at, r.updated_at, r.moderated_at,
     exists (select 1 from purchases p where p.user_id = r.user_id and p.product_id = r.product_id)
       as verified_purchase`;

/** Where a page starts: just after the review with this `seq` (and, in the best-first order, rating). */
export interface Position {
  seq: string;
  rating: number;
}

export interface ReviewFilter {
  status?: ReviewStatus;
  productId?: string;
  userId?: string;
}

function filters(db: Sql, filter: ReviewFilter) {
  return db`
    ${filter.status === undefined ? db`` : db`and r.status = ${filter.status}`}
    ${filter.productId === undefined ? db`` : db`and r.product_id = ${filter.productId}`}
    ${filter.userId === undefined ? db`` : db`and r.user_id = ${filter.userId}`}`;
}

export interface NewReview {
  id: string;
  productId: string;
  userId: string;
  authorName: string;
  rating: number;
  title: string;
  text: string;
}

export function createCommentStore(sql: Sql) {
  async function findReview(db: Db, id: string): Promise<Review | undefined> {
    const [row] = await db<ReviewRow[]>`select ${reviewColumns(db)} from reviews r where r.id = ${id}`;
    return row ? toReview(row) : undefined;
  }

  return {
    /** Inserts a pending review in the caller's transaction; a second one by its author throws. */
    async insertReview(tx: TransactionSql, review: NewReview): Promise<Review> {
      try {
        await tx`
          insert into reviews (id, product_id, user_id, author_name, rating, title, text, status)
          values (${review.id}, ${review.productId}, ${review.userId}, ${review.authorName}, ${review.rating},
                  ${review.title}, ${review.text}, 'pending')`;
      } catch (error) {
        if (isUniqueViolation(error) && error.constraint_name === "reviews_one_per_customer") {
          throw new DuplicateReviewError(review.productId);
        }
        throw error;
      }
      return (await findReview(tx, review.id))!;
    },

    findReview: (id: string) => findReview(sql, id),

    /** The review with its row locked until the caller's transaction ends, so moderations take turns. */
    async lockReview(tx: TransactionSql, id: string): Promise<Review | undefined> {
      const [row] = await tx<ReviewRow[]>`
        select ${reviewColumns(tx)} from reviews r where r.id = ${id} for update of r`;
      return row ? toReview(row) : undefined;
    },

    async setStatus(
      tx: TransactionSql,
      id: string,
      change: { status: ReviewStatus; rejectionReason: string | null },
    ): Promise<Review> {
      await tx`
        update reviews
        set status = ${change.status}, rejection_reason = ${change.rejectionReason},
            moderated_at = now(), updated_at = now()
        where id = ${id}`;
      return (await findReview(tx, id))!;
    },

    /** Deletes the review; with `userId`, only if it is theirs. False when nothing was deleted. */
    async deleteReview(id: string, owner?: { userId: string }): Promise<boolean> {
      const deleted = await sql`
        delete from reviews
        where id = ${id} ${owner ? sql`and user_id = ${owner.userId}` : sql``}`;
      return deleted.count > 0;
    },

    /** A page of a product's approved reviews in the public list's order, and how many there are. */
    async listApproved(
      productId: string,
      options: { sort: ReviewSort; limit: number; after?: Position },
    ): Promise<{ reviews: Review[]; total: number }> {
      const { after, sort } = options;
      const start = !after
        ? sql``
        : sort === "best"
        ? sql`and (r.rating, r.seq) < (${after.rating}, ${after.seq}::bigint)`
        : sql`and r.seq < ${after.seq}::bigint`;
      const order = sort === "best" ? sql`r.rating desc, r.seq desc` : sql`r.seq desc`;
      const rows = await sql<ReviewRow[]>`
        select ${reviewColumns(sql)} from reviews r
        where r.product_id = ${productId} and r.status = 'approved' ${start}
        order by ${order}
        limit ${options.limit}`;
      const [{ total }] = await sql<{ total: number }[]>`
        select count(*)::int as total from reviews
        where product_id = ${productId} and status = 'approved'`;
      return { reviews: rows.map(toReview), total };
    },

    /** A page of reviews of any status matching `filter`, and how many match. */
    async listReviews(
      filter: ReviewFilter,
      options: { newestFirst: boolean; limit: number; after?: Pick<Position, "seq"> },
    ): Promise<{ reviews: Review[]; total: number }> {
      const { after, newestFirst } = options;
      const start = !after
        ? sql``
        : newestFirst
        ? sql`and r.seq < ${after.seq}::bigint`
        : sql`and r.seq > ${after.seq}::bigint`;
      const rows = await sql<ReviewRow[]>`
        select ${reviewColumns(sql)} from reviews r
        where true ${filters(sql, filter)} ${start}
        order by ${newestFirst ? sql`r.seq desc` : sql`r.seq`}
        limit ${options.limit}`;
      const [{ total }] = await sql<{ total: number }[]>`
        select count(*)::int as total from reviews r where true ${filters(sql, filter)}`;
      return { reviews: rows.map(toReview), total };
    },

    /** How many approved reviews of the product gave each rating. */
    async ratingCounts(productId: string): Promise<RatingCounts> {
      const rows = await sql<{ rating: Rating; reviews: number }[]>`
        select rating, count(*)::int as reviews from reviews
        where product_id = ${productId} and status = 'approved'
        group by rating`;
      return Object.fromEntries(rows.map((row) => [row.rating, row.reviews]));
    },

    async countByStatus(): Promise<Record<ReviewStatus | "total", number>> {
      const [counts] = await sql<Record<ReviewStatus | "total", number>[]>`
        select count(*) filter (where status = 'approved')::int as approved,
               count(*) filter (where status = 'pending')::int as pending,
               count(*) filter (where status = 'rejected')::int as rejected,
               count(*)::int as total
        from reviews`;
      return counts;
    },

    /**
     * Records a confirmed order's products as the customer's purchases, unless the order is known
     * already: confirmed before (a redelivery), or cancelled before its confirmation arrived. A
     * concurrent cancellation of the order waits on the order's row, or this waits on it.
     */
    async recordConfirmedOrder(
      tx: TransactionSql,
      order: { orderId: string; userId: string; productIds: string[] },
    ): Promise<boolean> {
      const inserted = await tx`
        insert into orders (order_id, user_id, status) values (${order.orderId}, ${order.userId}, 'confirmed')
        on conflict (order_id) do nothing
        returning order_id`;
      if (inserted.length === 0) return false;
      await tx`
        insert into purchases (order_id, product_id, user_id)
        select ${order.orderId}, product_id, ${order.userId}
        from unnest(${order.productIds}::text[]) as product_id
        on conflict do nothing`;
      return true;
    },

    /** Forgets a cancelled order's purchases, and remembers the cancellation for a late confirmation. */
    async recordCancelledOrder(
      tx: TransactionSql,
      order: { orderId: string; userId: string },
    ): Promise<void> {
      await tx`
        insert into orders (order_id, user_id, status) values (${order.orderId}, ${order.userId}, 'cancelled')
        on conflict (order_id) do update set status = 'cancelled', updated_at = now()`;
      await tx`delete from purchases where order_id = ${order.orderId}`;
    },

    ping: () => sql`select 1`,
  };
}

export type CommentStore = ReturnType<typeof createCommentStore>;
