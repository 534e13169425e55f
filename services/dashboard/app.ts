/** The dashboard's HTTP routes, built from injected dependencies; no I/O happens at import. */
import { createRoute, z } from "@hono/zod-openapi";
import { type App, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import { bearerSecurity, requireRole } from "@multishop/kit/auth";
import { orderCounts } from "@multishop/kit/contracts/orders";
import { jsonResponse, orNull, problems } from "@multishop/kit/openapi";
import { shuttingDown } from "@multishop/kit/serve";
import {
  createStreamSlots,
  defaultStreamsPerUser,
  eventStreamResponse,
  tooManyStreamsResponse,
  userEventStream,
} from "@multishop/kit/streams";
import type { Dashboard } from "./dashboard.ts";
import { type Figures, sources } from "./domain.ts";

export interface DashboardAppDeps extends ServiceAppDeps {
  dashboard: Dashboard;
  /** How long an event stream stays silent before a comment line keeps proxies from closing it. */
  heartbeatMs?: number;
  /** How many event streams one admin may hold open at once. */
  eventStreamsPerUser?: number;
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
  orders: orNull(orderCounts).openapi({
    description: "orders per public status (order); null until first read",
  }),
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
  // Every route is for admins only.
  const streams = createStreamSlots(deps.eventStreamsPerUser ?? defaultStreamsPerUser);

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/dashboard",
      operationId: "getDashboard",
      ...adminOnly,
      summary: "The shop's figures now",
      description: "Read from their services now; a service that cannot be read is listed in " +
        "`unavailable` and its figures are the last ones read.",
      responses: { 200: jsonResponse(figuresSchema, "The figures"), ...problems(401, 403) },
    }),
    async (c) => {
      // Read again now: no event announces some changes (a seed, a new category).
      await dashboard.refreshAll();
      return c.json(dashboard.figures(), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/dashboard/events",
      operationId: "streamDashboard",
      ...adminOnly,
      summary: "Watch the shop's figures (server-sent events)",
      description: "A `figures` event with the figures (as `GET /v1/admin/dashboard` answers them) now, " +
        `then after every change; a comment line after ${heartbeatMs / 1000} s of silence keeps ` +
        "proxies from closing the stream. It ends when the service shuts down; open it again then. An " +
        "admin holds at most `EVENT_STREAMS_PER_USER` streams open at once " +
        `(${defaultStreamsPerUser} unless configured); one more answers 429 until one of them is closed.`,
      responses: {
        200: eventStreamResponse("The figures' event stream", [{
          name: "figures",
          data: figuresSchema,
          id: "the figures' `updatedAt`",
        }]),
        ...problems(401, 403),
        ...tooManyStreamsResponse,
      },
    }),
    (c) =>
      userEventStream(c, streams, async (stream) => {
        // The first event shows the figures as they are now, not as the last event or refresh left them.
        await dashboard.refreshAll();
        const watch = dashboard.watch();
        stream.onAbort(watch.close);
        shuttingDown.addEventListener("abort", watch.close);
        // A client gone during the first read was gone before onAbort listened.
        if (stream.aborted) watch.close();
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
      }),
  );

  return app;
}
