/** The catalog stores a suite runs against, and builders for test data. */
import { MongoClient } from "mongodb";
import { infraRequired } from "@multishop/kit/testing";
import type { Brand, Category, Product, ProductStatus } from "./domain/model.ts";
import { slugify } from "./domain/text.ts";
import { createMemoryCatalogStore } from "./store/memory.ts";
import { mongoCatalogStore } from "./store/mongo.ts";
import type { CatalogStore } from "./store/types.ts";

export interface OpenedStore {
  store: CatalogStore;
  /**
   * Another store on the same data, as a restarted catalog process gets: the in-process store
   * reads what the first one saved when it closed.
   */
  reopen(): Promise<CatalogStore>;
  close(): Promise<void>;
}

export interface StoreTarget {
  name: "in-process" | "MongoDB";
  skip?: string;
  open(): Promise<OpenedStore>;
}

export async function catalogStoreTargets(): Promise<StoreTarget[]> {
  const unreachable = await mongoProblem();
  const mongo: StoreTarget = {
    name: "MongoDB",
    skip: unreachable && !infraRequired ? unreachable : undefined,
    async open() {
      if (unreachable) throw new Error(`MongoDB is required but ${unreachable}`);
      const client = new MongoClient(Deno.env.get("MONGO_URL")!, { serverSelectionTimeoutMS: 5_000 });
      await client.connect();
      const db = client.db(`catalog_test_${crypto.randomUUID().slice(0, 8)}`);
      const store = mongoCatalogStore(client, db);
      await store.prepare();
      const reopened: MongoClient[] = [];
      return {
        store,
        async reopen() {
          const other = new MongoClient(Deno.env.get("MONGO_URL")!, { serverSelectionTimeoutMS: 5_000 });
          reopened.push(other);
          await other.connect();
          return mongoCatalogStore(other, other.db(db.databaseName));
        },
        async close() {
          // On a client of its own: a test may have closed the store, and its client with it.
          const cleaner = new MongoClient(Deno.env.get("MONGO_URL")!, { serverSelectionTimeoutMS: 5_000 });
          await cleaner.db(db.databaseName).dropDatabase();
          for (const each of [cleaner, client, ...reopened]) await each.close();
        },
      };
    },
  };
  const memory: StoreTarget = {
    name: "in-process",
    async open() {
      const folder = await Deno.makeTempDir({ prefix: "catalog_test_" });
      const snapshotFile = `${folder}/catalog.json`;
      const store = await createMemoryCatalogStore({ snapshotFile });
      const reopened: CatalogStore[] = [];
      return {
        store,
        async reopen() {
          const other = await createMemoryCatalogStore({ snapshotFile });
          reopened.push(other);
          return other;
        },
        async close() {
          await store.close();
          for (const other of reopened) await other.close();
          await Deno.remove(folder, { recursive: true });
        },
      };
    },
  };
  if (mongo.skip) console.log(`%cskipping MongoDB tests: ${mongo.skip}`, "color: yellow");
  return [memory, mongo];
}

async function mongoProblem(): Promise<string | undefined> {
  const url = Deno.env.get("MONGO_URL");
  if (!url) return "MONGO_URL is not set (start servers with `deno task infra:up` and export what it prints)";
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 3_000 });
  try {
    await client.connect();
    await client.db("admin").command({ ping: 1 });
    return undefined;
  } catch (error) {
    return `MONGO_URL does not answer: ${(error as Error).message}`;
  } finally {
    await client.close();
  }
}

let clock = Date.UTC(2026, 0, 1);
/** Strictly increasing times, so that "newest" has one right answer. */
export const nextTime = () => new Date(clock += 1000);

export function category(name: string, parent?: Category, sortOrder = 0): Category {
  const at = nextTime();
  return {
    id: crypto.randomUUID(),
    name,
    slug: `${slugify(name)}-${crypto.randomUUID().slice(0, 6)}`,
    image: null,
    parentId: parent?.id ?? null,
    sortOrder,
    createdAt: at,
    updatedAt: at,
  };
}

export function brand(name: string): Brand {
  const at = nextTime();
  return {
    id: crypto.randomUUID(),
    name,
    slug: `${slugify(name)}-${crypto.randomUUID().slice(0, 6)}`,
    logo: null,
    createdAt: at,
    updatedAt: at,
  };
}

export function product(
  name: string,
  options: {
    price?: number;
    category: Category;
    brand?: Brand;
    status?: ProductStatus;
    description?: string;
    createdAt?: Date;
  },
): Product {
  const at = options.createdAt ?? nextTime();
  return {
    id: crypto.randomUUID(),
    name,
    slug: `${slugify(name)}-${crypto.randomUUID().slice(0, 6)}`,
    description: options.description ?? `${name} for every day`,
    info: "",
    images: [],
    price: { amount: options.price ?? 1000, currency: "USD" },
    category: {
      id: options.category.id,
      name: options.category.name,
      slug: options.category.slug,
      parentId: options.category.parentId,
    },
    brand: options.brand
      ? { id: options.brand.id, name: options.brand.name, slug: options.brand.slug }
      : null,
    attributes: [],
    status: options.status ?? "active",
    createdAt: at,
    updatedAt: at,
  };
}
