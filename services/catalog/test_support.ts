/** The catalog stores a suite runs against, and builders for test data. */
import { MongoClient } from "mongodb";
import { infraRequired } from "@multishop/kit/testing";
import type { Brand, Category, Product, ProductStatus } from "./domain/model.ts";
import { slugify } from "./domain/text.ts";
import { createMemoryCatalogStore } from "./store/memory.ts";
import { mongoCatalogStore } from "./store/mongo.ts";
import type { CatalogStore } from "./store/types.ts";

export interface StoreTarget {
  name: "in-process" | "MongoDB";
  skip?: string;
  open(): Promise<{ store: CatalogStore; close(): Promise<void> }>;
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
      return {
        store,
        async close() {
          await db.dropDatabase();
          await client.close();
        },
      };
    },
  };
  const memory: StoreTarget = {
    name: "in-process",
    async open() {
      const store = await createMemoryCatalogStore();
      return { store, close: () => store.close() };
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
