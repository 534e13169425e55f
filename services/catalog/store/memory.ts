/**
 * The in-process catalog store for the embedded mode. It keeps the MongoDB store's semantics
 * (unique slugs, sort orders, cursors, pending events kept with their product until published) and
 * can persist a snapshot to a file so that data survives restarts, pending events included.
 */
import type { ClaimedEvents, PendingEvent } from "@multishop/kit/messaging";
import type { About, ContentItem, ContentKind } from "../domain/content.ts";
import {
  type Brand,
  type Category,
  categoryPath,
  type ContactMessage,
  DuplicateSlugError,
  type Product,
  type ProductQuery,
  productSearchText,
  sortValue,
} from "../domain/model.ts";
import type { CatalogStore } from "./types.ts";

/** A product's pending events, as the MongoDB store keeps them in the product's document. */
interface ProductOutbox {
  events: PendingEvent[];
  lease?: { owner: string; until: Date };
  failures: number;
  /** The product was deleted: the entry goes once its events are published. */
  deleted: boolean;
}

interface State {
  categories: Record<string, Category>;
  brands: Record<string, Brand>;
  products: Record<string, Product>;
  outbox: Record<string, ProductOutbox>;
  content: Record<string, ContentItem>;
  about: About | null;
  contact: Record<string, ContactMessage>;
}

const emptyState = (): State => ({
  categories: {},
  brands: {},
  products: {},
  outbox: {},
  content: {},
  about: null,
  contact: {},
});

const dateKeys = new Set(["createdAt", "updatedAt", "occurredAt", "until"]);
const reviveDates = (key: string, value: unknown) =>
  dateKeys.has(key) && typeof value === "string" ? new Date(value) : value;

export async function createMemoryCatalogStore(
  options: { snapshotFile?: string } = {},
): Promise<CatalogStore> {
  const state = options.snapshotFile ? await loadSnapshot(options.snapshotFile) : emptyState();
  let pendingSave: Promise<void> | undefined;
  let saveTimer: ReturnType<typeof setTimeout> | undefined;

  const save = async () => {
    if (!options.snapshotFile) return;
    const temporary = `${options.snapshotFile}.tmp`;
    await Deno.writeTextFile(temporary, JSON.stringify(state));
    await Deno.rename(temporary, options.snapshotFile);
  };
  const changed = () => {
    if (!options.snapshotFile || saveTimer) return;
    saveTimer = setTimeout(() => {
      saveTimer = undefined;
      pendingSave = (pendingSave ?? Promise.resolve()).then(save);
    }, 200);
  };
  const copy = <T>(value: T): T => structuredClone(value);
  /** Like the MongoDB store, failures arrive as rejected promises, never as synchronous throws. */
  const attempt = <T>(work: () => T): Promise<T> => new Promise((resolve) => resolve(work()));

  function uniqueSlug<T extends { id: string; slug: string }>(items: Record<string, T>, item: T) {
    const clash = Object.values(items).find((other) => other.slug === item.slug && other.id !== item.id);
    if (clash) throw new DuplicateSlugError(item.slug);
  }

  function collection<T extends { id: string; slug: string }>(
    items: Record<string, T>,
    order: (a: T, b: T) => number,
  ) {
    return {
      list: () => Promise.resolve(Object.values(items).sort(order).map(copy)),
      get: (id: string) => Promise.resolve(items[id] && copy(items[id])),
      findBySlug: (slug: string) =>
        Promise.resolve(copy(Object.values(items).find((item) => item.slug === slug))),
      insert: (item: T) =>
        attempt(() => {
          if (items[item.id]) throw new Error(`duplicate id ${item.id}`);
          uniqueSlug(items, item);
          items[item.id] = copy(item);
          changed();
        }),
      replace: (item: T) =>
        attempt(() => {
          if (!items[item.id]) return false;
          uniqueSlug(items, item);
          items[item.id] = copy(item);
          changed();
          return true;
        }),
      remove(id: string) {
        const existed = id in items;
        delete items[id];
        if (existed) changed();
        return Promise.resolve(existed);
      },
    };
  }

  const byOrderThenName = (a: Category, b: Category) => a.sortOrder - b.sortOrder || compare(a.name, b.name);
  const byName = (a: Brand, b: Brand) => compare(a.name, b.name);
  const products = collection(state.products, () => 0);

  /** Appends a write's events to the product's pending ones. */
  function addPending(id: string, events: readonly PendingEvent[], deleted = false) {
    if (events.length === 0 && !state.outbox[id]) return;
    const entry = state.outbox[id] ??= { events: [], failures: 0, deleted: false };
    entry.events.push(...copy(events));
    entry.deleted ||= deleted;
    if (entry.events.length === 0 && entry.deleted) delete state.outbox[id];
  }

  /** Whether a write that read the product at `expectedUpdatedAt` still applies to it. */
  const unchanged = (id: string, expectedUpdatedAt: Date) =>
    state.products[id]?.updatedAt.getTime() === expectedUpdatedAt.getTime();

  return {
    prepare: () => Promise.resolve(),
    ping: () => Promise.resolve(),
    async close() {
      if (saveTimer) {
        clearTimeout(saveTimer);
        saveTimer = undefined;
        pendingSave = (pendingSave ?? Promise.resolve()).then(save);
      }
      await pendingSave;
    },
    categories: collection(state.categories, byOrderThenName),
    brands: collection(state.brands, byName),
    products: {
      get: products.get,
      findBySlug: products.findBySlug,
      insert: (product, events = []) =>
        products.insert(product).then(() => {
          if (events.length > 0) addPending(product.id, events);
        }),
      replace: (product, { expectedUpdatedAt, events }) =>
        attempt(() => {
          if (!unchanged(product.id, expectedUpdatedAt)) return false;
          uniqueSlug(state.products, product);
          state.products[product.id] = copy(product);
          addPending(product.id, events);
          changed();
          return true;
        }),
      remove: (id, { expectedUpdatedAt, events }) =>
        attempt(() => {
          if (!unchanged(id, expectedUpdatedAt)) return false;
          delete state.products[id];
          addPending(id, events, true);
          changed();
          return true;
        }),
      list(query) {
        const matches = Object.values(state.products).filter((product) => matchesQuery(product, query));
        const order = productOrder(query.sort);
        const after = query.after;
        return Promise.resolve(
          matches
            .sort(order)
            .filter((product) => !after || order(product, { cursor: after }) > 0)
            .slice(0, query.limit)
            .map(copy),
        );
      },
      count(filter) {
        return Promise.resolve(
          Object.values(state.products).filter((product) =>
            (!filter.categoryId || categoryPath(product.category).includes(filter.categoryId)) &&
            (!filter.brandId || product.brand?.id === filter.brandId)
          ).length,
        );
      },
      refreshCategory(category) {
        for (const product of Object.values(state.products)) {
          if (product.category.id === category.id) product.category = copy(category);
        }
        changed();
        return Promise.resolve();
      },
      refreshBrand(brand) {
        for (const product of Object.values(state.products)) {
          if (product.brand?.id === brand.id) product.brand = copy(brand);
        }
        changed();
        return Promise.resolve();
      },
      stats() {
        const all = Object.values(state.products);
        const priced = [...all].sort((a, b) => a.price.amount - b.price.amount || compare(a.id, b.id));
        const summary = (product: Product | undefined) =>
          product ? { id: product.id, name: product.name, price: copy(product.price) } : null;
        return Promise.resolve({
          products: all.length,
          activeProducts: all.filter((product) => product.status === "active").length,
          averagePrice: all.length
            ? all.reduce((sum, product) => sum + product.price.amount, 0) / all.length
            : null,
          cheapest: summary(priced[0]),
          dearest: summary(priced.at(-1)),
        });
      },
    },
    outbox: {
      claim(owner, leaseMs) {
        const now = new Date();
        const due = Object.entries(state.outbox).find(([, entry]) =>
          entry.events.length > 0 && (!entry.lease || entry.lease.until <= now)
        );
        if (!due) return Promise.resolve(undefined);
        const [key, entry] = due;
        const leaseUntil = new Date(now.getTime() + leaseMs);
        entry.lease = { owner, until: leaseUntil };
        changed();
        const claimed: ClaimedEvents = {
          key,
          events: copy(entry.events),
          leaseUntil,
          failures: entry.failures,
        };
        return Promise.resolve(claimed);
      },
      settle(key, owner, { published, retryAt }) {
        const entry = state.outbox[key];
        if (!entry) return Promise.resolve();
        const publishedIds = new Set(published.map((event) => event.id));
        entry.events = entry.events.filter((event) => !publishedIds.has(event.id));
        if (entry.lease?.owner === owner) {
          if (retryAt) {
            entry.lease.until = retryAt;
            entry.failures++;
          } else {
            entry.lease = undefined;
            entry.failures = 0;
          }
        }
        if (entry.events.length === 0 && (entry.deleted || !entry.lease)) delete state.outbox[key];
        changed();
        return Promise.resolve();
      },
    },
    content: {
      list(kind, { activeOnly }) {
        return Promise.resolve(
          Object.values(state.content)
            .filter((item) => item.kind === kind && (!activeOnly || item.active))
            .sort((a, b) => a.sortOrder - b.sortOrder || compare(a.id, b.id))
            .map(copy),
        );
      },
      get(kind, id) {
        const item = state.content[id];
        return Promise.resolve(item?.kind === kind ? copy(item) : undefined);
      },
      insert(item) {
        state.content[item.id] = copy(item);
        changed();
        return Promise.resolve();
      },
      replace(item) {
        if (state.content[item.id]?.kind !== item.kind) return Promise.resolve(false);
        state.content[item.id] = copy(item);
        changed();
        return Promise.resolve(true);
      },
      remove(kind: ContentKind, id) {
        if (state.content[id]?.kind !== kind) return Promise.resolve(false);
        delete state.content[id];
        changed();
        return Promise.resolve(true);
      },
      about: () => Promise.resolve(state.about ? copy(state.about) : undefined),
      setAbout(about) {
        state.about = copy(about);
        changed();
        return Promise.resolve();
      },
    },
    contact: {
      insert(message) {
        state.contact[message.id] = copy(message);
        changed();
        return Promise.resolve();
      },
      list({ limit, unreadOnly, after }) {
        const newestFirst = (a: ContactMessage, b: ContactMessage) =>
          b.createdAt.getTime() - a.createdAt.getTime() || compare(b.id, a.id);
        const position = after && { createdAt: after.createdAt, id: after.id } as ContactMessage;
        return Promise.resolve(
          Object.values(state.contact)
            .filter((message) => !unreadOnly || !message.read)
            .sort(newestFirst)
            .filter((message) => !position || newestFirst(message, position) > 0)
            .slice(0, limit)
            .map(copy),
        );
      },
      markRead(id) {
        const message = state.contact[id];
        if (message) {
          message.read = true;
          changed();
        }
        return Promise.resolve(Boolean(message));
      },
      remove(id) {
        const existed = id in state.contact;
        delete state.contact[id];
        if (existed) changed();
        return Promise.resolve(existed);
      },
    },
  };
}

function matchesQuery(product: Product, query: ProductQuery): boolean {
  if (!query.statuses.includes(product.status)) return false;
  if (query.categoryId && !categoryPath(product.category).includes(query.categoryId)) return false;
  if (query.brandId && product.brand?.id !== query.brandId) return false;
  if (query.minPrice !== undefined && product.price.amount < query.minPrice) return false;
  if (query.maxPrice !== undefined && product.price.amount > query.maxPrice) return false;
  if (query.search) {
    const text = productSearchText(product);
    if (!query.search.split(" ").every((word) => text.includes(word))) return false;
  }
  return true;
}

type Position = Product | { cursor: { value: string | number; id: string } };

/** The listing's order: the sort value, then the id, so that every position is unique. */
function productOrder(sort: ProductQuery["sort"]) {
  const descending = sort === "newest" || sort === "price_desc";
  const key = (position: Position) =>
    "cursor" in position ? position.cursor : { value: sortValue(position, sort), id: position.id };
  return (a: Position, b: Position) => {
    const left = key(a);
    const right = key(b);
    const order = compare(left.value, right.value) || compare(left.id, right.id);
    return descending ? -order : order;
  };
}

function compare(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function loadSnapshot(file: string): Promise<State> {
  try {
    return { ...emptyState(), ...JSON.parse(await Deno.readTextFile(file), reviveDates) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return emptyState();
    throw new Error(`the catalog snapshot ${file} cannot be read: ${error}`);
  }
}
