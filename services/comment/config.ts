/** The comment service's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import {
  authEnv,
  commonEnv,
  httpUrl,
  loadConfig,
  port,
  positiveInt,
  postgresEnv,
} from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";

export const commentEnv = z.object({
  ...commonEnv,
  ...postgresEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5010),
  /** Where a review's product is looked up: only products on sale may be reviewed. */
  CATALOG_URL: httpUrl("http://127.0.0.1:5002"),
  /**
   * How long browsers and the edge may keep a product's public reviews and rating. Short: a review a
   * moderator approves shows up within this long.
   */
  COMMENT_CACHE_MAX_AGE_SECONDS: positiveInt(30),
  COMMENT_CACHE_SHARED_MAX_AGE_SECONDS: positiveInt(60),
});

export type CommentConfig = z.infer<typeof commentEnv>;

export const loadCommentConfig = (env?: Record<string, string | undefined>) => loadConfig(commentEnv, env);
