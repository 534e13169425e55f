/** The dashboard's configuration; every variable is optional and the defaults run the embedded mode. */
import { z } from "zod";
import { authEnv, commonEnv, loadConfig, port, positiveInt } from "@multishop/kit/config";
import { messagingEnv } from "@multishop/kit/messaging";

const url = (fallback: string) =>
  z.url({ protocol: /^https?$/ }).default(fallback).transform((v) => v.replace(/\/$/, ""));

export const dashboardEnv = z.object({
  ...commonEnv,
  ...authEnv,
  ...messagingEnv,
  PORT: port(5012),
  IDENTITY_URL: url("http://127.0.0.1:5001"),
  CATALOG_URL: url("http://127.0.0.1:5002"),
  ORDER_URL: url("http://127.0.0.1:5007"),
  COMMENT_URL: url("http://127.0.0.1:5010"),
  MESSAGE_URL: url("http://127.0.0.1:5011"),
  /** The dashboard's own client at identity, granted the `stats:read` scope, for reading the figures. */
  SERVICE_TOKEN_URL: url("http://127.0.0.1:5001/oauth/token"),
  SERVICE_CLIENT_ID: z.string().min(1).default("dashboard"),
  // A development default that identity's SERVICE_CLIENTS default must know too; set both in production.
  SERVICE_CLIENT_SECRET: z.string().min(16).default("dashboard-dev-secret"),
  /**
   * How often every source is read again, events or not: identity publishes none, categories and
   * brands have none, and a missed event heals here.
   */
  DASHBOARD_REFRESH_SECONDS: positiveInt(60),
});

export type DashboardConfig = z.infer<typeof dashboardEnv>;

export const loadDashboardConfig = (env?: Record<string, string | undefined>) =>
  loadConfig(dashboardEnv, env);
