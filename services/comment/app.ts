/** The comment service's HTTP routes, built from injected dependencies; no I/O happens at import. */
import { createRoute, z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { type App, type AppEnv, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import {
  bearerSecurity,
  principalOf,
  requireRole,
  requireStatsReader,
  requireUser,
  statsReadScope,
} from "@multishop/kit/auth";
import { publicCache } from "@multishop/kit/cache";
import { pageSchema } from "@multishop/kit/contracts/lists";
import { jsonBody, jsonResponse, problems } from "@multishop/kit/openapi";
import { decodeCursor, pageOf, pagingQuery } from "@multishop/kit/paging";
import { ProblemError } from "@multishop/kit/problem";
import { uuidId } from "@multishop/kit/formats";
import {
  authorName,
  ratings,
  rejectionInput,
  type Review,
  reviewInput,
  reviewSorts,
  reviewStatuses,
} from "./domain.ts";
import type { Reviews } from "./reviews.ts";

export interface CommentAppDeps extends ServiceAppDeps {
  reviews: Reviews;
  /** Cache-Control of the public reads (a product's reviews and rating). */
  cache: { maxAgeSeconds: number; sharedMaxAgeSeconds: number };
}

export const commentDocument = {
  title: "MultiShop Comment",
  version: "1.0.0",
  description: "Product reviews: writing, moderation, verified purchases and rating summaries.",
};

const timestamp = z.iso.datetime();

const publicReviewSchema = z.object({
  id: z.uuid(),
  rating: z.number().int().min(1).max(5),
  title: z.string(),
  text: z.string().openapi({ description: "plain text, as written; never HTML" }),
  authorName: z.string().openapi({ description: "the author's username when they wrote it" }),
  verifiedPurchase: z.boolean().openapi({
    description: "the author has a confirmed order with the product that was not cancelled",
  }),
  createdAt: timestamp,
}).openapi("PublicReview");

const reviewSchema = z.object({
  id: z.uuid(),
  productId: z.uuid(),
  userId: z.string(),
  authorName: z.string(),
  rating: z.number().int().min(1).max(5),
  title: z.string(),
  text: z.string().openapi({ description: "plain text, as written; never HTML" }),
  status: z.enum(reviewStatuses).openapi({ description: "only approved reviews are shown publicly" }),
  rejectionReason: z.string().nullable(),
  verifiedPurchase: z.boolean(),
  createdAt: timestamp,
  updatedAt: timestamp,
  moderatedAt: timestamp.nullable(),
}).openapi("Review");

const reviewPage = pageSchema(
  "Review",
  reviewSchema,
  "the reviews of the list: the caller's, or those matching `status` and `productId`",
);

const publicReviewPage = pageSchema("PublicReview", publicReviewSchema, "the product's approved reviews");

/** A product's rating, as the storefront's product page shows it too. */
const ratingSchema = z.object({
  average: z.number().nullable().openapi({
    description: "the mean of approved reviews' ratings, one decimal; null when there are none",
    example: 4.3,
  }),
  count: z.number().int().openapi({ description: "approved reviews" }),
  distribution: z.object(Object.fromEntries(ratings.map((rating) => [`${rating}`, z.number().int()])))
    .openapi("RatingDistribution", { description: "Approved reviews per rating, 1 to 5" }),
}).openapi("Rating");

const ratingSummarySchema = ratingSchema.extend({ productId: z.uuid() }).openapi("RatingSummary");

const reviewCountsSchema = z.object({
  approved: z.number().int(),
  pending: z.number().int(),
  rejected: z.number().int(),
  total: z.number().int(),
}).openapi("ReviewCounts");

const productIdSchema = uuidId("must be a product id (a UUID)");
const productParam = z.object({ productId: productIdSchema });
const idParam = z.object({ id: uuidId("must be a review id") });

const seq = z.string().regex(/^[0-9]{1,18}$/);
/** The public list's cursor carries its sort, so a cursor from the other order is refused, not misread. */
const publicCursor = z.strictObject({ sort: z.enum(reviewSorts), rating: z.number().int(), seq });
const listCursor = z.strictObject({ seq });

/**
 * The reject route's body is optional, which the validator takes to mean it may skip a body of any
 * other type; a body that is there must be JSON, as on every other route.
 */
const jsonIfAny = createMiddleware<AppEnv>(async (c, next) => {
  const contentType = c.req.header("content-type");
  if (contentType && !/^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i.test(contentType)) {
    throw new ProblemError({
      status: 415,
      kind: "unsupported-media-type",
      detail: "the request body must be application/json",
    });
  }
  await next();
});

const user = { security: bearerSecurity, middleware: [requireUser] };
const adminOnly = { tags: ["moderation"], security: bearerSecurity, middleware: [requireRole("admin")] };

const toReviewJson = (review: Review) => ({
  id: review.id,
  productId: review.productId,
  userId: review.userId,
  authorName: review.authorName,
  rating: review.rating,
  title: review.title,
  text: review.text,
  status: review.status,
  rejectionReason: review.rejectionReason,
  verifiedPurchase: review.verifiedPurchase,
  createdAt: review.createdAt.toISOString(),
  updatedAt: review.updatedAt.toISOString(),
  moderatedAt: review.moderatedAt?.toISOString() ?? null,
});

const toPublicReviewJson = (review: Review) => ({
  id: review.id,
  rating: review.rating,
  title: review.title,
  text: review.text,
  authorName: review.authorName,
  verifiedPurchase: review.verifiedPurchase,
  createdAt: review.createdAt.toISOString(),
});

/** Catalog ids are written lower-case; a UUID in capitals names the same product. */
const normalizeProductId = (productId: string) => productId.toLowerCase();

/** A page of a newest-first or oldest-first list, with the cursor of the next page when there is one. */
function toReviewPage(found: { reviews: Review[]; total: number }, limit: number) {
  const page = pageOf(found.reviews, limit, (last) => ({ seq: last.seq }));
  return { items: page.items.map(toReviewJson), nextCursor: page.nextCursor, total: found.total };
}

export function createCommentApp(deps: CommentAppDeps): App {
  const { reviews } = deps;
  const app = createApp({
    ...commentDocument,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    readiness: deps.readiness,
    verifyToken: deps.verifyToken,
  });
  // A signed-in caller's answers are theirs (their reviews) or a moderator's; public reads set their own.
  const cached = publicCache(deps.cache);

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/products/{productId}/reviews",
      operationId: "listProductReviews",
      tags: ["reviews"],
      summary: "A product's approved reviews",
      description: "`newest` first (the default), or `best`: the highest rating first, then the newest.",
      middleware: [cached],
      request: {
        params: productParam,
        query: z.object({ ...pagingQuery, sort: z.enum(reviewSorts).default("newest") }),
      },
      responses: {
        200: jsonResponse(publicReviewPage, "A page of approved reviews, and how many there are"),
        ...problems(400),
      },
    }),
    async (c) => {
      const { limit, cursor, sort } = c.req.valid("query");
      const after = cursor ? decodeCursor(cursor, publicCursor) : undefined;
      if (after && after.sort !== sort) {
        throw new ProblemError({
          status: 400,
          kind: "validation",
          title: "Invalid request",
          errors: [{ field: "query.cursor", reason: `is a cursor of the ${after.sort} order, not ${sort}` }],
        });
      }
      const found = await reviews.listApproved(normalizeProductId(c.req.valid("param").productId), {
        sort,
        limit: limit + 1,
        after,
      });
      const page = pageOf(found.reviews, limit, (last) => ({ sort, rating: last.rating, seq: last.seq }));
      return c.json(
        { items: page.items.map(toPublicReviewJson), nextCursor: page.nextCursor, total: found.total },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/products/{productId}/reviews",
      operationId: "createReview",
      tags: ["reviews"],
      ...user,
      summary: "Review a product (one review per customer and product)",
      description: "Only products on sale can be reviewed: an unknown product, a draft or an archived " +
        "one answers 404 (503 while the catalog cannot be asked). The review waits for a moderator " +
        "(`pending`) before it is shown. It is a verified purchase while the author has a confirmed " +
        "order with the product.",
      request: { params: productParam, body: jsonBody(reviewInput) },
      responses: {
        201: jsonResponse(reviewSchema, "The new review, pending moderation"),
        ...problems(400, 401, 403, 404, 409, 413, 415, 503),
      },
    }),
    async (c) => {
      const principal = principalOf(c);
      const review = await reviews.submit(
        { userId: principal.subject, name: authorName(principal.username) },
        normalizeProductId(c.req.valid("param").productId),
        c.req.valid("json"),
      );
      c.header("location", `/v1/reviews/${review.id}`);
      return c.json(toReviewJson(review), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/products/{productId}/rating",
      operationId: "getProductRating",
      tags: ["reviews"],
      summary: "A product's rating summary, over its approved reviews",
      description: "Public. A product without approved reviews, or unknown, answers a `count` of 0 and a " +
        "null `average`.",
      middleware: [cached],
      request: { params: productParam },
      responses: { 200: jsonResponse(ratingSummarySchema, "The rating summary"), ...problems(400) },
    }),
    async (c) => c.json(await reviews.ratingSummary(normalizeProductId(c.req.valid("param").productId)), 200),
  );

  // The fixed paths under /v1/reviews come before /v1/reviews/{id}, which would take them for ids.
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/reviews/stats",
      operationId: "getReviewStats",
      ...adminOnly,
      middleware: [requireStatsReader()],
      summary: "How many reviews there are, by status (admin dashboard)",
      description: `Needs the admin role, or a client token with the \`${statsReadScope}\` scope ` +
        "(the dashboard service).",
      responses: {
        200: jsonResponse(reviewCountsSchema, "The review counts"),
        ...problems(401, 403),
      },
    }),
    async (c) => c.json(await reviews.stats(), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/reviews/mine",
      operationId: "listMyReviews",
      tags: ["reviews"],
      ...user,
      summary: "The caller's reviews of any status, newest first",
      description: "Pending and rejected reviews included (with the `rejectionReason`); pages with `limit` " +
        "and `cursor`.",
      request: { query: z.object(pagingQuery) },
      responses: {
        200: jsonResponse(reviewPage, "A page of the caller's reviews"),
        ...problems(400, 401, 403),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      const after = cursor ? decodeCursor(cursor, listCursor) : undefined;
      const found = await reviews.listReviews({ userId: principalOf(c).subject }, {
        newestFirst: true,
        limit: limit + 1,
        after,
      });
      return c.json(toReviewPage(found, limit), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/reviews",
      operationId: "listAllReviews",
      ...adminOnly,
      summary: "Reviews for moderation, oldest first",
      description: "`status=pending` is the moderation queue, in the order the reviews arrived.",
      request: {
        query: z.object({
          ...pagingQuery,
          status: z.enum(reviewStatuses).optional().openapi({ description: "only reviews with this status" }),
          productId: productIdSchema.optional().openapi({
            description: "only reviews of this product",
          }),
        }),
      },
      responses: {
        200: jsonResponse(reviewPage, "A page of reviews, and how many match"),
        ...problems(400, 401, 403),
      },
    }),
    async (c) => {
      const { limit, cursor, status, productId } = c.req.valid("query");
      const after = cursor ? decodeCursor(cursor, listCursor) : undefined;
      const found = await reviews.listReviews(
        { status, productId: productId && normalizeProductId(productId) },
        {
          newestFirst: false,
          limit: limit + 1,
          after,
        },
      );
      return c.json(toReviewPage(found, limit), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/reviews/{id}",
      operationId: "getReview",
      tags: ["reviews"],
      ...user,
      summary: "One of the caller's reviews (admins: any review)",
      description: "Pending and rejected reviews included; another customer's review answers 404, like a " +
        "missing one.",
      request: { params: idParam },
      responses: { 200: jsonResponse(reviewSchema, "The review"), ...problems(400, 401, 403, 404) },
    }),
    async (c) => c.json(toReviewJson(await reviews.review(principalOf(c), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/reviews/{id}/approve",
      operationId: "approveReview",
      ...adminOnly,
      summary: "Approve a review: it is shown publicly",
      description: "Approving an approved review changes nothing and answers it.",
      request: { params: idParam },
      responses: { 200: jsonResponse(reviewSchema, "The review, approved"), ...problems(400, 401, 403, 404) },
    }),
    async (c) =>
      c.json(toReviewJson(await reviews.moderate(c.req.valid("param").id, { status: "approved" })), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/reviews/{id}/reject",
      operationId: "rejectReview",
      tags: adminOnly.tags,
      security: adminOnly.security,
      middleware: [...adminOnly.middleware, jsonIfAny],
      summary: "Reject a review: it is not shown publicly",
      description: "The body is optional. Rejecting a rejected review changes nothing (its reason " +
        "included) and answers it.",
      request: {
        params: idParam,
        body: { required: false, content: { "application/json": { schema: rejectionInput } } },
      },
      responses: {
        200: jsonResponse(reviewSchema, "The review, rejected"),
        ...problems(400, 401, 403, 404, 413, 415),
      },
    }),
    async (c) => {
      const { reason } = c.req.valid("json");
      const review = await reviews.moderate(c.req.valid("param").id, {
        status: "rejected",
        reason: reason ?? null,
      });
      return c.json(toReviewJson(review), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/reviews/{id}",
      operationId: "deleteReview",
      tags: ["reviews"],
      ...user,
      summary: "Delete one of the caller's reviews (admins: any review)",
      description: "Another customer's review answers 404, like a missing one; the product's rating stops " +
        "counting it.",
      request: { params: idParam },
      responses: { 204: { description: "Deleted" }, ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      await reviews.delete(principalOf(c), c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  return app;
}
