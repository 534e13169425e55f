/** The dashboard's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import {
  authEnv,
  commonEnv,
  httpUrl,
  loadConfig,
  port,
  positiveInt,
  serviceClientEnv,
} from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";
import { streamsEnv } from "@multishop/kit/streams";

export const dashboardEnv = z.object({
  ...commonEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5012),
  IDENTITY_URL: httpUrl("http://127.0.0.1:5001"),
  CATALOG_URL: httpUrl("http://127.0.0.1:5002"),
  ORDER_URL: httpUrl("http://127.0.0.1:5007"),
  COMMENT_URL: httpUrl("http://127.0.0.1:5010"),
  MESSAGE_URL: httpUrl("http://127.0.0.1:5011"),
  ...serviceClientEnv("dashboard"),
  /**
   * How often every source is read again, events or not: identity publishes none, categories and
   * brands have none, and a missed event heals here.
   */
  DASHBOARD_REFRESH_SECONDS: positiveInt(60),
  ...streamsEnv,
});

export type DashboardConfig = z.infer<typeof dashboardEnv>;

export const loadDashboardConfig = (env?: Record<string, string | undefined>) =>
  loadConfig(dashboardEnv, env);
