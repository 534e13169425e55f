/**
 * The catalog on MongoDB through the official driver. Everything here also runs on FerretDB 1.x:
 * no $lookup (products carry their category and brand), no $text or collations (search and name
 * sorting use folded copies of the text), keyset cursors instead of skip.
 *
 * A product's events wait in its own document (`outbox`), written by the same single-document
 * write as the change, since FerretDB 1.x has no multi-document transactions; the relay claims a
 * document with a lease (`outboxLease`) and removes what it published with `$pullAll` of exactly
 * those events (FerretDB 1.x ignores `$pull` with a condition, and has no arrayFilters). A deleted
 * product stays as a tombstone (`deletedAt`) until its last event is out. No read returns either.
 *
 * FerretDB 1.x applies an update by reading the document and writing it back whole, without
 * checking that nobody wrote in between: two updates of one document at once can both match a
 * condition and one of them is lost (seen with 1.24: 19 of 50 concurrent `$push` kept). So every
 * write of an existing product document (the catalog's and the relay's) holds that product's lock
 * first: a document in `product_locks` whose `_id` is the product's, which only one insert can
 * create, as PostgreSQL enforces the unique `_id`. On MongoDB the lock costs two round trips.
 */
import type { ClaimedEvents, PendingEvent } from "@multishop/kit/messaging";
import { type Collection, type Db, type Filter, MongoClient, MongoServerError, type Sort } from "mongodb";
import type { About, ContentItem } from "../domain/content.ts";
import {
  type Brand,
  type Category,
  categoryPath,
  type ContactMessage,
  DuplicateSlugError,
  type Product,
  type ProductQuery,
  productSearchText,
} from "../domain/model.ts";
import { escapeRegExp, foldText } from "../domain/text.ts";
import type { CatalogStore } from "./types.ts";

type Stored<T extends { id: string }> = Omit<T, "id"> & { _id: string };
type StoredProduct = Stored<Product> & {
  categoryPath: string[];
  searchText: string;
  nameKey: string;
  /** Events written with the product's changes and not yet published, oldest first. */
  outbox?: PendingEvent[];
  /** The relay that publishes them now, or none before `until`, after a failure. */
  outboxLease?: { owner: string; until: Date };
  /** Failed publishes in a row, for the relay's retry delay. */
  outboxFailures?: number;
  /** Set on a deleted product whose events are not all published yet. */
  deletedAt?: Date;
};
type StoredContent = Stored<ContentItem>;

function toStored<T extends { id: string }>({ id, ...rest }: T): Stored<T> {
  return { _id: id, ...rest } as Stored<T>;
}

function fromStored<T extends { id: string }>(document: Stored<T> | null): T | undefined {
  if (!document) return undefined;
  const { _id, ...rest } = document;
  return { id: _id, ...rest } as unknown as T;
}

/** A product as the catalog sees it: no derived fields, no pending events, no tombstones. */
const productFields = {
  categoryPath: 0,
  searchText: 0,
  nameKey: 0,
  outbox: 0,
  outboxLease: 0,
  outboxFailures: 0,
} as const;
const live = { deletedAt: { $exists: false } } as const;
/** Product slugs are lower-case words and hyphens, so a tombstone's never takes one a product wants. */
const tombstoneSlug = (id: string) => `deleted:${id}`;
/**
 * Matches documents with at least one pending event. A range on the events' times rather than
 * `outbox.0` exists, so that MongoDB answers it from the `outbox` index.
 */
const hasPendingEvents = { "outbox.occurredAt": { $gte: new Date(0) } } as const;

function storedProduct(product: Product): StoredProduct {
  return {
    ...toStored(product),
    categoryPath: categoryPath(product.category),
    searchText: productSearchText(product),
    nameKey: foldText(product.name),
  };
}

async function insertUnique<T extends { _id: string; slug?: string }>(
  collection: Collection<T>,
  document: T,
) {
  try {
    // deno-lint-ignore no-explicit-any -- the driver's OptionalUnlessRequiredId does not narrow generics
    await collection.insertOne(document as any);
  } catch (error) {
    throw duplicateSlug(error, document.slug) ?? error;
  }
}

function duplicateSlug(error: unknown, slug: string | undefined): DuplicateSlugError | undefined {
  // FerretDB 1.x answers a clash on replace with a generic error that quotes PostgreSQL's message.
  return isDuplicateKey(error) && slug ? new DuplicateSlugError(slug) : undefined;
}

const sortFields = {
  newest: { field: "createdAt", direction: -1 },
  price_asc: { field: "price.amount", direction: 1 },
  price_desc: { field: "price.amount", direction: -1 },
  name: { field: "nameKey", direction: 1 },
} as const;

export function productFilter(query: ProductQuery): Filter<StoredProduct> {
  const conditions: Filter<StoredProduct>[] = [live, { status: { $in: query.statuses } }];
  if (query.categoryId) conditions.push({ categoryPath: query.categoryId });
  if (query.brandId) conditions.push({ "brand.id": query.brandId });
  if (query.minPrice !== undefined) conditions.push({ "price.amount": { $gte: query.minPrice } });
  if (query.maxPrice !== undefined) conditions.push({ "price.amount": { $lte: query.maxPrice } });
  for (const word of query.search?.split(" ").filter(Boolean) ?? []) {
    conditions.push({ searchText: { $regex: escapeRegExp(word) } });
  }
  if (query.after) {
    const { field, direction } = sortFields[query.sort];
    const operator = direction === 1 ? "$gt" : "$lt";
    const value = query.sort === "newest" ? new Date(query.after.value) : query.after.value;
    conditions.push({
      $or: [{ [field]: { [operator]: value } }, { [field]: value, _id: { [operator]: query.after.id } }],
    } as Filter<StoredProduct>);
  }
  return { $and: conditions };
}

/** A lock older than this was left by a process that died holding it; a write takes milliseconds. */
const lockExpiryMs = 10_000;
/** How long a write waits for another write of the same product before it gives up. */
const lockWaitMs = 5_000;

function isDuplicateKey(error: unknown) {
  return error instanceof MongoServerError && (error.code === 11000 || /duplicate key/i.test(error.message));
}

export async function connectMongoCatalogStore(url: string, databaseName: string): Promise<CatalogStore> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5_000 });
  await client.connect();
  return mongoCatalogStore(client, client.db(databaseName));
}

export function mongoCatalogStore(client: MongoClient, db: Db): CatalogStore {
  const categories = db.collection<Stored<Category>>("categories");
  const brands = db.collection<Stored<Brand>>("brands");
  const products = db.collection<StoredProduct>("products");
  const content = db.collection<StoredContent>("content");
  const about = db.collection<About & { _id: string }>("about");
  const contact = db.collection<Stored<ContactMessage>>("contact_messages");
  const locks = db.collection<{ _id: string; token: string; at: Date }>("product_locks");

  /** Takes the product's lock, or answers false (without waiting) when `wait` is false and it is held. */
  async function lock(id: string, token: string, wait: boolean): Promise<boolean> {
    const deadline = Date.now() + lockWaitMs;
    while (true) {
      try {
        await locks.insertOne({ _id: id, token, at: new Date() });
        return true;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      await locks.deleteOne({ _id: id, at: { $lt: new Date(Date.now() - lockExpiryMs) } });
      if (!wait) return false;
      if (Date.now() > deadline) throw new Error(`product ${id} stayed locked for ${lockWaitMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
    }
  }

  /** Runs `work` as the only writer of the product's document; undefined when skipped (`wait` false). */
  async function locked<T>(id: string, work: () => Promise<T>, wait = true): Promise<T | undefined> {
    const token = crypto.randomUUID();
    if (!await lock(id, token, wait)) return undefined;
    try {
      return await work();
    } finally {
      await locks.deleteOne({ _id: id, token });
    }
  }

  function taxonomy<T extends Category | Brand>(collection: Collection<Stored<T>>, sort: Sort) {
    return {
      list: async () =>
        (await collection.find().sort(sort).toArray()).map((d) => fromStored<T>(d as Stored<T>)!),
      get: async (id: string) =>
        fromStored<T>(await collection.findOne({ _id: id } as Filter<Stored<T>>) as Stored<T>),
      findBySlug: async (slug: string) =>
        fromStored<T>(await collection.findOne({ slug } as Filter<Stored<T>>) as Stored<T>),
      insert: (item: T) => insertUnique(collection, toStored(item)),
      async replace(item: T) {
        try {
          const result = await collection.replaceOne({ _id: item.id } as Filter<Stored<T>>, toStored(item));
          return result.matchedCount === 1;
        } catch (error) {
          throw duplicateSlug(error, item.slug) ?? error;
        }
      },
      remove: async (id: string) =>
        (await collection.deleteOne({ _id: id } as Filter<Stored<T>>)).deletedCount === 1,
    };
  }

  return {
    async prepare() {
      await categories.createIndex({ slug: 1 }, { unique: true, name: "slug_unique" });
      await brands.createIndex({ slug: 1 }, { unique: true, name: "slug_unique" });
      await products.createIndex({ slug: 1 }, { unique: true, name: "slug_unique" });
      await products.createIndex({ status: 1, createdAt: -1, _id: -1 }, { name: "newest" });
      await products.createIndex({ status: 1, "price.amount": 1, _id: 1 }, { name: "price" });
      await products.createIndex({ status: 1, nameKey: 1, _id: 1 }, { name: "name" });
      await products.createIndex({ categoryPath: 1 }, { name: "category" });
      await products.createIndex({ "brand.id": 1 }, { name: "brand" });
      await products.createIndex({ "outbox.occurredAt": 1 }, { name: "outbox" });
      await content.createIndex({ kind: 1, sortOrder: 1 }, { name: "kind_order" });
      await contact.createIndex({ createdAt: -1, _id: -1 }, { name: "newest" });
    },
    async ping() {
      await db.command({ ping: 1 });
    },
    close: () => client.close(),
    categories: taxonomy<Category>(categories, { sortOrder: 1, name: 1 }),
    brands: taxonomy<Brand>(brands, { name: 1 }),
    products: {
      async list(query) {
        const { field, direction } = sortFields[query.sort];
        const documents = await products.find(productFilter(query), { projection: productFields })
          .sort({ [field]: direction, _id: direction })
          .limit(query.limit)
          .toArray();
        return documents.map((document) => fromStored<Product>(document)!);
      },
      get: async (id) =>
        fromStored<Product>(await products.findOne({ _id: id, ...live }, { projection: productFields })),
      findBySlug: async (slug) =>
        fromStored<Product>(await products.findOne({ slug, ...live }, { projection: productFields })),
      insert: (product, events = []) =>
        insertUnique(products, { ...storedProduct(product), outbox: [...events] }),
      async replace(product, { expectedUpdatedAt, events }) {
        const { _id, ...fields } = storedProduct(product);
        try {
          const result = await locked(_id, () =>
            products.updateOne(
              { _id, updatedAt: expectedUpdatedAt, ...live },
              { $set: fields, $push: { outbox: { $each: [...events] } } },
            ));
          return result!.matchedCount === 1;
        } catch (error) {
          throw duplicateSlug(error, product.slug) ?? error;
        }
      },
      remove: async (id, { expectedUpdatedAt, events }) =>
        (await locked(id, async () => {
          const result = await products.updateOne(
            { _id: id, updatedAt: expectedUpdatedAt, ...live },
            {
              $set: { deletedAt: new Date(), slug: tombstoneSlug(id) },
              $push: { outbox: { $each: [...events] } },
            },
          );
          // A delete with nothing to announce needs no tombstone.
          await products.deleteOne({ _id: id, deletedAt: { $exists: true }, outbox: { $size: 0 } });
          return result.matchedCount === 1;
        }))!,
      count: (filter) =>
        products.countDocuments({
          ...live,
          ...(filter.categoryId ? { categoryPath: filter.categoryId } : {}),
          ...(filter.brandId ? { "brand.id": filter.brandId } : {}),
        }),
      async refreshCategory(category) {
        const affected = await products.find({ "category.id": category.id, ...live }, {
          projection: { _id: 1 },
        })
          .toArray();
        for (const { _id } of affected) {
          await locked(
            _id,
            () => products.updateOne({ _id }, { $set: { category, categoryPath: categoryPath(category) } }),
          );
        }
      },
      async refreshBrand(brand) {
        // The brand's name is part of each product's search text, so each product gets its own.
        const affected = await products.find({ "brand.id": brand.id, ...live }, { projection: productFields })
          .toArray();
        for (const document of affected) {
          const product = { ...fromStored<Product>(document)!, brand };
          await locked(product.id, () =>
            products.updateOne({ _id: product.id }, {
              $set: { brand, searchText: productSearchText(product) },
            }));
        }
      },
      async stats() {
        // FerretDB 1.x has no $avg and counts `$sum: 1` as 0, so the average is a sum over a count.
        const [all, active, [totals], [cheapest], [dearest]] = await Promise.all([
          products.countDocuments(live),
          products.countDocuments({ status: "active", ...live }),
          products.aggregate<{ sum: number }>([
            { $match: live },
            { $group: { _id: null, sum: { $sum: "$price.amount" } } },
          ]).toArray(),
          products.find(live).sort({ "price.amount": 1, _id: 1 }).limit(1).toArray(),
          products.find(live).sort({ "price.amount": -1, _id: -1 }).limit(1).toArray(),
        ]);
        const summary = (document: StoredProduct | undefined) =>
          document ? { id: document._id, name: document.name, price: document.price } : null;
        return {
          products: all,
          activeProducts: active,
          averagePrice: all > 0 && totals ? totals.sum / all : null,
          cheapest: summary(cheapest),
          dearest: summary(dearest),
        };
      },
    },
    outbox: {
      async claim(owner, leaseMs): Promise<ClaimedEvents | undefined> {
        const due = () => ({
          ...hasPendingEvents,
          $or: [{ outboxLease: { $exists: false } }, { "outboxLease.until": { $lte: new Date() } }],
        });
        const candidates = await products.find(due(), { projection: { _id: 1 } }).limit(10).toArray();
        for (const { _id } of candidates) {
          // A product another writer holds now is left for the next pass.
          const claimed = await locked(_id, async () => {
            const document = await products.findOne({ _id, ...due() });
            if (!document) return undefined;
            const leaseUntil = new Date(Date.now() + leaseMs);
            await products.updateOne({ _id }, { $set: { outboxLease: { owner, until: leaseUntil } } });
            return {
              key: _id,
              events: document.outbox ?? [],
              leaseUntil,
              failures: document.outboxFailures ?? 0,
            };
          }, false);
          if (claimed) return claimed;
        }
        return undefined;
      },
      async settle(key, owner, { published, retryAt }) {
        await locked(key, async () => {
          const removePublished = { $pullAll: { outbox: [...published] } };
          const held = await products.updateOne(
            { _id: key, "outboxLease.owner": owner },
            retryAt
              ? { ...removePublished, $set: { "outboxLease.until": retryAt }, $inc: { outboxFailures: 1 } }
              : { ...removePublished, $unset: { outboxLease: "", outboxFailures: "" } },
          );
          // Another relay took the document over meanwhile: what the broker confirmed goes all the same.
          if (held.matchedCount === 0 && published.length > 0) {
            await products.updateOne({ _id: key }, removePublished);
          }
          await products.deleteOne({ _id: key, deletedAt: { $exists: true }, outbox: { $size: 0 } });
        });
      },
    },
    content: {
      async list(kind, { activeOnly }) {
        const documents = await content.find({ kind, ...(activeOnly ? { active: true } : {}) })
          .sort({ sortOrder: 1, _id: 1 }).toArray();
        return documents.map((document) => fromStored<ContentItem>(document)!);
      },
      get: async (kind, id) => fromStored<ContentItem>(await content.findOne({ _id: id, kind })),
      async insert(item) {
        await content.insertOne(toStored(item));
      },
      replace: async (item) =>
        (await content.replaceOne({ _id: item.id, kind: item.kind }, toStored(item))).matchedCount === 1,
      remove: async (kind, id) => (await content.deleteOne({ _id: id, kind })).deletedCount === 1,
      async about() {
        const document = await about.findOne({ _id: "about" });
        if (!document) return undefined;
        const { _id: _, ...rest } = document;
        return rest;
      },
      async setAbout(value) {
        await about.replaceOne({ _id: "about" }, value, { upsert: true });
      },
    },
    contact: {
      async insert(message) {
        await contact.insertOne(toStored(message));
      },
      async list({ limit, unreadOnly, after }) {
        const conditions: Filter<Stored<ContactMessage>>[] = [];
        if (unreadOnly) conditions.push({ read: false });
        if (after) {
          conditions.push({
            $or: [{ createdAt: { $lt: after.createdAt } }, {
              createdAt: after.createdAt,
              _id: { $lt: after.id },
            }],
          });
        }
        const documents = await contact.find(conditions.length ? { $and: conditions } : {})
          .sort({ createdAt: -1, _id: -1 }).limit(limit).toArray();
        return documents.map((document) => fromStored<ContactMessage>(document)!);
      },
      markRead: async (id) =>
        (await contact.updateOne({ _id: id }, { $set: { read: true } })).matchedCount === 1,
      remove: async (id) => (await contact.deleteOne({ _id: id })).deletedCount === 1,
    },
  };
}
