/**
 * The dashboard's use cases with sources the test holds in its hand: a read waits until the test
 * lets it answer, so bursts, failures and watchers are seen step by step, with no clock involved.
 */
import assert from "node:assert/strict";
import { createLogger } from "@multishop/kit/log";
import type { FigureSources } from "./clients.ts";
import { createDashboard } from "./dashboard.ts";
import type { Figures } from "./domain.ts";

/** A source whose reads wait for `answer` or `fail`; `started` counts the reads begun. */
function heldSource<T>() {
  const waiting: PromiseWithResolvers<T>[] = [];
  let started = 0;
  return {
    read: () => {
      started++;
      const read = Promise.withResolvers<T>();
      waiting.push(read);
      return read.promise;
    },
    started: () => started,
    waiting: () => waiting.length,
    answer: (value: T) => waiting.shift()!.resolve(value),
    fail: (error: Error) => waiting.shift()!.reject(error),
  };
}

const orders = { pending: 1, confirmed: 2, shipped: 0, delivered: 0, cancelled: 0 };

function dashboardWithHeldOrders() {
  const order = heldSource<{ orders: typeof orders }>();
  const sources: FigureSources = {
    identity: () => Promise.resolve({ users: 3 }),
    catalog: () => Promise.resolve({ products: 8, categories: 2, brands: 1 }),
    order: order.read,
    comment: () => Promise.resolve({ pendingReviews: 0 }),
    message: () => Promise.resolve({ unreadSupportMessages: 0 }),
  };
  const dashboard = createDashboard({
    sources,
    logger: createLogger("test", "silent"),
    clock: () => new Date(),
  });
  return { dashboard, order };
}

/** Lets the promises already settled run their reactions. */
const settle = () => new Promise<void>((resolve) => queueMicrotask(resolve));

Deno.test("a burst of refreshes costs one read in flight and one more after it", async () => {
  const { dashboard, order } = dashboardWithHeldOrders();
  const firstRead = dashboard.refreshAll();
  order.answer({ orders });
  await firstRead;
  const first = dashboard.refresh("order");
  const burst = Array.from({ length: 10 }, () => dashboard.refresh("order"));
  assert.equal(order.started(), 2, "the first read, then one in flight");
  order.answer({ orders: { ...orders, pending: 0 } });
  for (let turn = 0; turn < 100 && order.waiting() === 0; turn++) await settle();
  assert.equal(order.started(), 3, "one more read for everything asked meanwhile");
  order.answer({ orders: { ...orders, pending: 0, confirmed: 3 } });
  await Promise.all([first, ...burst]);
  assert.equal(order.started(), 3);
  assert.deepEqual(dashboard.figures().orders, { ...orders, pending: 0, confirmed: 3 });
  await dashboard.close();
});

Deno.test("a failing source is marked unavailable, keeps its figures and never rejects", async () => {
  const { dashboard, order } = dashboardWithHeldOrders();
  const firstRead = dashboard.refreshAll();
  order.answer({ orders });
  await firstRead;
  assert.deepEqual(dashboard.figures().unavailable, []);
  const refresh = dashboard.refresh("order");
  order.fail(new Error("connection refused"));
  await refresh;
  const figures = dashboard.figures();
  assert.deepEqual(figures.unavailable, ["order"]);
  assert.deepEqual(figures.orders, orders);
  await dashboard.close();
});

Deno.test("a watch sees the figures now, then each change, and ends with the dashboard", async () => {
  const { dashboard, order } = dashboardWithHeldOrders();
  const firstRead = dashboard.refreshAll();
  order.answer({ orders });
  await firstRead;
  const watch = dashboard.watch();
  assert.equal(dashboard.watching(), 1);
  const now = await watch.next(60_000) as Figures;
  assert.deepEqual(now.orders, orders);

  const waiting = watch.next(60_000);
  const refresh = dashboard.refresh("order");
  order.answer({ orders: { ...orders, shipped: 1 } });
  await refresh;
  assert.equal(((await waiting) as Figures).orders?.shipped, 1);

  const unchanged = dashboard.refresh("order");
  order.answer({ orders: { ...orders, shipped: 1 } });
  await unchanged;
  const ending = watch.next(60_000);
  await dashboard.close();
  assert.equal(await ending, "closed", "an unchanged reading told the watch nothing; closing ended it");
  assert.equal(dashboard.watching(), 0);
  assert.equal(await dashboard.watch().next(60_000), "closed", "a watch after closing is over at once");
});

Deno.test("a watch with nothing new says so after its wait, and closing it alone leaves the others", async () => {
  const { dashboard, order } = dashboardWithHeldOrders();
  const firstRead = dashboard.refreshAll();
  order.answer({ orders });
  await firstRead;
  const quiet = dashboard.watch();
  const other = dashboard.watch();
  await quiet.next(60_000);
  assert.equal(await quiet.next(1), "quiet");
  quiet.close();
  assert.equal(await quiet.next(60_000), "closed");
  assert.equal(dashboard.watching(), 1);
  other.close();
  await dashboard.close();
});
