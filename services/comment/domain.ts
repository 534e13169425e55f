/**
 * Product reviews and their rules, without I/O: what a customer may write, how moderation moves a
 * review, what name a review is shown under, and the arithmetic of a product's rating summary.
 */
import { z } from "@hono/zod-openapi";
import { type ReviewStatus, reviewStatus } from "@multishop/kit/contracts/reviews";
import { plainText } from "@multishop/kit/openapi";

export const reviewStatuses = reviewStatus.options;
export type { ReviewStatus };

export const ratings = [1, 2, 3, 4, 5] as const;
export type Rating = (typeof ratings)[number];

export interface Review {
  id: string;
  /** The order reviews were written in (a PostgreSQL bigint, as a string); the lists follow it. */
  seq: string;
  productId: string;
  userId: string;
  /** The author's username when they wrote it; never their email. */
  authorName: string;
  rating: Rating;
  title: string;
  text: string;
  status: ReviewStatus;
  /** Why a moderator rejected it; null unless rejected. */
  rejectionReason: string | null;
  /** The author has a confirmed, not cancelled, order with the product. */
  verifiedPurchase: boolean;
  createdAt: Date;
  updatedAt: Date;
  /** When a moderator last changed its status. */
  moderatedAt: Date | null;
}

/** The request body of POST /v1/products/{productId}/reviews. */
export const reviewInput = z.strictObject({
  rating: z.number().int("must be a whole number from 1 to 5").min(1, "must be 1 to 5").max(
    5,
    "must be 1 to 5",
  ).openapi({ example: 5 }),
  title: plainText({ max: 120, multiline: false }).openapi({
    description: "1 to 120 characters, one line",
    example: "Warm and well made",
  }),
  text: plainText({ max: 4000, multiline: true }).openapi({
    description: "1 to 4000 characters of plain text; line breaks and tabs are kept",
    example: "Wore it all winter.\nThe seams held up.",
  }),
}).openapi("ReviewInput");

export type ReviewInput = z.infer<typeof reviewInput>;

/** The request body of POST /v1/reviews/{id}/reject; the reason is shown to the author. */
export const rejectionInput = z.strictObject({
  reason: plainText({ max: 500, multiline: true }).optional().openapi({
    description: "why, for the author: up to 500 characters",
    example: "Reviews must be about the product, not the delivery.",
  }),
}).openapi("RejectionInput");

export type RejectionInput = z.infer<typeof rejectionInput>;

/** What a moderator does to a review. */
export type Moderation = { status: "approved" } | { status: "rejected"; reason: string | null };

/**
 * The review after a moderation, or undefined when it changes nothing: approving an approved review
 * or rejecting a rejected one keeps it as it is, its reason included. Any other move is allowed, so a
 * moderator can take back an approval or a rejection.
 */
export function statusAfterModeration(
  review: Pick<Review, "status" | "rejectionReason">,
  moderation: Moderation,
): { status: ReviewStatus; rejectionReason: string | null } | undefined {
  if (review.status === moderation.status) return undefined;
  return moderation.status === "approved"
    ? { status: "approved", rejectionReason: null }
    : { status: "rejected", rejectionReason: moderation.reason };
}

/** Shown when a token carries no usable username, rather than anything that could identify the author. */
export const anonymousAuthor = "Customer";

const username = plainText({ max: 64, multiline: false });

/**
 * The name a review is shown under: the username identity put in the author's token. Anything that
 * is not a plausible username (missing, an email address, control characters) is replaced, since
 * the name is public.
 */
export function authorName(usernameClaim: unknown): string {
  const name = username.safeParse(usernameClaim);
  return name.success && !name.data.includes("@") ? name.data : anonymousAuthor;
}

/** How many approved reviews gave each rating; a rating nobody gave may be left out. */
export type RatingCounts = Partial<Record<Rating, number>>;

/** Reviews per rating, keyed "1" to "5" as JSON shows them. */
export type RatingDistribution = Record<`${Rating}`, number>;

export interface RatingSummary {
  /** The mean rating rounded half up to one decimal; null when nobody has rated. */
  average: number | null;
  count: number;
  distribution: RatingDistribution;
}

/**
 * A product's rating summary. The mean is rounded in integers (tenths, half up), so 4.25 shows as
 * 4.3 without floating-point surprises.
 */
export function summarizeRatings(counts: RatingCounts): RatingSummary {
  const distribution = Object.fromEntries(
    ratings.map((rating) => [`${rating}`, counts[rating] ?? 0]),
  ) as RatingDistribution;
  const count = ratings.reduce((sum, rating) => sum + (counts[rating] ?? 0), 0);
  if (count === 0) return { average: null, count, distribution };
  const points = ratings.reduce((sum, rating) => sum + rating * (counts[rating] ?? 0), 0);
  const tenths = Math.floor((20 * points + count) / (2 * count));
  return { average: tenths / 10, count, distribution };
}

/** The orders of the public list: newest first, or best (highest rating, then newest) first. */
export const reviewSorts = ["newest", "best"] as const;
export type ReviewSort = (typeof reviewSorts)[number];
