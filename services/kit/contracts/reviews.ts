/** Events of the comment service (product reviews), as the dashboard and the edge's cache read them. */
import { z } from "zod";

export const reviewStatus = z.enum(["pending", "approved", "rejected"]);
export type ReviewStatus = z.infer<typeof reviewStatus>;

export const reviewEvents = {
  /** A review was submitted (previousStatus null) or moderated. */
  "comment.review.status_changed": z.object({
    reviewId: z.string().min(1),
    productId: z.string().min(1),
    userId: z.string().min(1),
    status: reviewStatus,
    previousStatus: reviewStatus.nullable(),
  }),
} as const;
