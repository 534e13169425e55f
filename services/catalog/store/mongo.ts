/**
 * The catalog on MongoDB through the official driver. Everything here also runs on FerretDB 1.x:
 * no $lookup (products carry their category and brand), no $text or collations (search and name
 * sorting use folded copies of the text), keyset cursors instead of skip.
 */
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
type StoredProduct = Stored<Product> & { categoryPath: string[]; searchText: string; nameKey: string };
type StoredContent = Stored<ContentItem>;

function toStored<T extends { id: string }>({ id, ...rest }: T): Stored<T> {
  return { _id: id, ...rest } as Stored<T>;
}

function fromStored<T extends { id: string }>(document: Stored<T> | null): T | undefined {
  if (!document) return undefined;
  const { _id, ...rest } = document as Stored<T> & Record<string, unknown>;
  for (const derived of ["categoryPath", "searchText", "nameKey"]) delete rest[derived];
  return { id: _id, ...rest } as unknown as T;
}

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
  const clash = error instanceof MongoServerError &&
    (error.code === 11000 || /duplicate key/i.test(error.message));
  return clash && slug ? new DuplicateSlugError(slug) : undefined;
}

const sortFields = {
  newest: { field: "createdAt", direction: -1 },
  price_asc: { field: "price.amount", direction: 1 },
  price_desc: { field: "price.amount", direction: -1 },
  name: { field: "nameKey", direction: 1 },
} as const;

export function productFilter(query: ProductQuery): Filter<StoredProduct> {
  const conditions: Filter<StoredProduct>[] = [{ status: { $in: query.statuses } }];
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
        const documents = await products.find(productFilter(query))
          .sort({ [field]: direction, _id: direction })
          .limit(query.limit)
          .toArray();
        return documents.map((document) => fromStored<Product>(document)!);
      },
      get: async (id) => fromStored<Product>(await products.findOne({ _id: id })),
      findBySlug: async (slug) => fromStored<Product>(await products.findOne({ slug })),
      insert: (product) => insertUnique(products, storedProduct(product)),
      async replace(product) {
        try {
          return (await products.replaceOne({ _id: product.id }, storedProduct(product))).matchedCount === 1;
        } catch (error) {
          throw duplicateSlug(error, product.slug) ?? error;
        }
      },
      remove: async (id) => fromStored<Product>(await products.findOneAndDelete({ _id: id })),
      count: (filter) =>
        products.countDocuments({
          ...(filter.categoryId ? { categoryPath: filter.categoryId } : {}),
          ...(filter.brandId ? { "brand.id": filter.brandId } : {}),
        }),
      async refreshCategory(category) {
        await products.updateMany({ "category.id": category.id }, {
          $set: { category, categoryPath: categoryPath(category) },
        });
      },
      async refreshBrand(brand) {
        // The brand's name is part of each product's search text, so each product is rewritten.
        const affected = await products.find({ "brand.id": brand.id }).toArray();
        if (affected.length === 0) return;
        await products.bulkWrite(affected.map((document) => {
          const product = { ...fromStored<Product>(document)!, brand };
          return { replaceOne: { filter: { _id: product.id }, replacement: storedProduct(product) } };
        }));
      },
      async stats() {
        // FerretDB 1.x has no $avg and counts `$sum: 1` as 0, so the average is a sum over a count.
        const [all, active, [totals], [cheapest], [dearest]] = await Promise.all([
          products.countDocuments(),
          products.countDocuments({ status: "active" }),
          products.aggregate<{ sum: number }>([{ $group: { _id: null, sum: { $sum: "$price.amount" } } }])
            .toArray(),
          products.find().sort({ "price.amount": 1, _id: 1 }).limit(1).toArray(),
          products.find().sort({ "price.amount": -1, _id: -1 }).limit(1).toArray(),
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
