/** The dashboard's HTTP routes, built from injected dependencies; no I/O happens at import. */
import { createRoute, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { type App, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import { bearerSecurity, requireRole } from "@multishop/kit/auth";
import { jsonResponse, problems } from "@multishop/kit/openapi";
import { shuttingDown } from "@multishop/kit/serve";
import type { Dashboard } from "./dashboard.ts";
import { type Figures, orderStatuses, sources } from "./domain.ts";

export interface DashboardAppDeps extends ServiceAppDeps {
  dashboard: Dashboard;
  /** How long an event stream stays silent before a comment line keeps proxies from closing it. */
  heartbeatMs?: number;
}

export const dashboardDocument = {
  title: "MultiShop Dashboard",
  version: "1.0.0",
  description: "Live figures for the shop's admins, read from the services that own them.",
};

const count = (description: string) =>
  z.number().int().nullable().openapi({ description: `${description}; null until first read` });

const figuresSchema = z.object({
  users: count("registered users (identity)"),
  products: count("products in any status (catalog)"),
  categories: count("categories (catalog)"),
  brands: count("brands (catalog)"),
  orders: z.object(Object.fromEntries(orderStatuses.map((status) => [status, z.number().int()])))
    .nullable()
    .openapi({ description: "orders per public status (order); null until first read" }),
  pendingReviews: count("reviews waiting for moderation (comment)"),
  unreadSupportMessages: count("messages to support no admin has read (message)"),
  updatedAt: z.string().datetime().openapi({ description: "when a figure or `unavailable` last changed" }),
  unavailable: z.array(z.enum(sources)).openapi({
    description: "sources whose last read failed; their figures keep the last value read",
  }),
}).openapi("DashboardFigures");

const adminOnly = { tags: ["dashboard"], security: bearerSecurity, middleware: [requireRole("admin")] };

const figuresEvent = (figures: Figures) => ({
  event: "figures",
  data: JSON.stringify(figures),
  id: figures.updatedAt,
});

export function createDashboardApp(deps: DashboardAppDeps): App {
  const { dashboard } = deps;
  const heartbeatMs = deps.heartbeatMs ?? 15_000;
  const app = createApp({
    ...dashboardDocument,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    readiness: deps.readiness,
    verifyToken: deps.verifyToken,
  });

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/dashboard",
      ...adminOnly,
      summary: "The shop's figures now",
      description: "Read from their services now; a service that cannot be read is listed in " +
        "`unavailable` and its figures are the last ones read.",
      responses: { 200: jsonResponse(figuresSchema, "The figures"), ...problems(401, 403) },
    }),
    async (c) => {
      c.header("cache-control", "no-store");
      // Read again now: no event announces some changes (a seed, a new category).
      await dashboard.refreshAll();
      return c.json(dashboard.figures(), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/dashboard/events",
      ...adminOnly,
      summary: "Watch the shop's figures (server-sent events)",
      description: "A `figures` event with the figures (as `GET /v1/admin/dashboard` answers them) now, " +
        `then after every change; a comment line after ${heartbeatMs / 1000} s of silence keeps ` +
        "proxies from closing the stream. It ends when the service shuts down; open it again then.",
      responses: {
        200: { description: "The event stream", content: { "text/event-stream": { schema: z.string() } } },
        ...problems(401, 403),
      },
    }),
    async (c) => {
      // The first event shows the figures as they are now, not as the last event or refresh left them.
      await dashboard.refreshAll();
      return streamSSE(c, async (stream) => {
        const watch = dashboard.watch();
        stream.onAbort(watch.close);
        shuttingDown.addEventListener("abort", watch.close);
        try {
          let update = await watch.next(heartbeatMs);
          while (update !== "closed") {
            if (update === "quiet") await stream.write(": keep-alive\n\n");
            else await stream.writeSSE(figuresEvent(update));
            update = await watch.next(heartbeatMs);
          }
        } finally {
          shuttingDown.removeEventListener("abort", watch.close);
          watch.close();
        }
      });
    },
  );

  return app;
}
