/**
 * The catalog's use cases: the rules from domain/ applied in order against the store, and the
 * events published after each change to a product.
 */
import { catalogEvents, type CatalogEventType } from "@multishop/kit/contracts/catalog";
import { describeError, type Logger } from "@multishop/kit/log";
import type { EventPublisher } from "@multishop/kit/messaging";
import { ProblemError } from "@multishop/kit/problem";
import type { BrandInput, CategoryInput, ProductInput, ProductPatch } from "./domain/inputs.ts";
import {
  type Brand,
  type BrandRef,
  type Category,
  type CategoryRef,
  DuplicateSlugError,
  type Product,
} from "./domain/model.ts";
import { slugify } from "./domain/text.ts";
import type { CatalogStore } from "./store/types.ts";

export interface CatalogDeps {
  store: CatalogStore;
  events: EventPublisher;
  clock: () => Date;
  logger: Logger;
  currency: string;
}

const notFound = (what: string) => new ProblemError({ status: 404, detail: `no such ${what}` });
const unprocessable = (field: string, reason: string) =>
  new ProblemError({
    status: 422,
    kind: "invalid-reference",
    detail: `${field} ${reason}`,
    errors: [{ field, reason }],
  });
const conflict = (detail: string, field?: string) =>
  new ProblemError({
    status: 409,
    kind: "conflict",
    detail,
    errors: field ? [{ field, reason: detail }] : undefined,
  });

function slugFor(input: { slug?: string; name: string }): string {
  const slug = input.slug ?? slugify(input.name);
  if (!slug) {
    throw new ProblemError({
      status: 400,
      kind: "validation",
      errors: [{ field: "slug", reason: "give a slug: the name has no letters or digits" }],
    });
  }
  return slug;
}

/** Turns a store's slug clash into the 409 a client understands. */
async function uniqueSlug<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof DuplicateSlugError) throw conflict(`slug ${error.slug} is already used`, "slug");
    throw error;
  }
}

const categoryRef = (category: Category): CategoryRef => ({
  id: category.id,
  name: category.name,
  slug: category.slug,
  parentId: category.parentId,
});
const brandRef = (brand: Brand): BrandRef => ({ id: brand.id, name: brand.name, slug: brand.slug });

export function createCatalog(deps: CatalogDeps) {
  const { store, clock } = deps;

  async function publish<T extends CatalogEventType>(type: T, payload: unknown) {
    try {
      await deps.events.publish(type, catalogEvents[type], payload as never, {
        correlationId: (payload as { productId: string }).productId,
      });
    } catch (error) {
      // The change is stored; the kit's outbox serves PostgreSQL only, so the event is lost (README, Known limits).
      deps.logger.error("event not published", { type, ...describeError(error) });
    }
  }

  const snapshot = (product: Product) => ({
    productId: product.id,
    name: product.name,
    slug: product.slug,
    price: product.price,
    status: product.status,
    categoryId: product.category.id,
    brandId: product.brand?.id ?? null,
    image: product.images[0]?.url ?? null,
  });

  async function parentFor(parentId: string | null, self?: Category): Promise<void> {
    if (!parentId) return;
    if (parentId === self?.id) throw unprocessable("parentId", "cannot be the category itself");
    const parent = await store.categories.get(parentId);
    if (!parent) throw unprocessable("parentId", "is not a category");
    if (parent.parentId) {
      throw unprocessable("parentId", "must be a top-level category (one level of nesting)");
    }
    if (self && (await store.categories.list()).some((c) => c.parentId === self.id)) {
      throw unprocessable("parentId", "a category with children cannot get a parent");
    }
  }

  async function categoryOf(id: string): Promise<CategoryRef> {
    const category = await store.categories.get(id);
    if (!category) throw unprocessable("categoryId", "is not a category");
    return categoryRef(category);
  }

  async function brandOf(id: string | null): Promise<BrandRef | null> {
    if (!id) return null;
    const brand = await store.brands.get(id);
    if (!brand) throw unprocessable("brandId", "is not a brand");
    return brandRef(brand);
  }

  function checkCurrency(price: { currency: string }) {
    if (price.currency !== deps.currency) {
      throw new ProblemError({
        status: 400,
        kind: "validation",
        errors: [{ field: "price.currency", reason: `must be the shop's currency, ${deps.currency}` }],
      });
    }
  }

  return {
    async createCategory(input: CategoryInput): Promise<Category> {
      await parentFor(input.parentId);
      const now = clock();
      const category: Category = {
        id: crypto.randomUUID(),
        ...input,
        slug: slugFor(input),
        createdAt: now,
        updatedAt: now,
      };
      await uniqueSlug(store.categories.insert(category));
      return category;
    },

    async updateCategory(id: string, patch: Partial<CategoryInput>): Promise<Category> {
      const current = await store.categories.get(id);
      if (!current) throw notFound("category");
      const next: Category = { ...current, ...patch, updatedAt: clock() };
      if (patch.parentId !== undefined && patch.parentId !== current.parentId) {
        await parentFor(next.parentId, current);
      }
      await uniqueSlug(store.categories.replace(next));
      await store.products.refreshCategory(categoryRef(next));
      return next;
    },

    async deleteCategory(id: string): Promise<void> {
      const all = await store.categories.list();
      if (!all.some((c) => c.id === id)) throw notFound("category");
      if (all.some((c) => c.parentId === id)) {
        throw conflict("the category has subcategories; move or delete them first");
      }
      if (await store.products.count({ categoryId: id }) > 0) {
        throw conflict("the category has products; move or delete them first");
      }
      await store.categories.remove(id);
    },

    async createBrand(input: BrandInput): Promise<Brand> {
      const now = clock();
      const brand: Brand = {
        id: crypto.randomUUID(),
        ...input,
        slug: slugFor(input),
        createdAt: now,
        updatedAt: now,
      };
      await uniqueSlug(store.brands.insert(brand));
      return brand;
    },

    async updateBrand(id: string, patch: Partial<BrandInput>): Promise<Brand> {
      const current = await store.brands.get(id);
      if (!current) throw notFound("brand");
      const next: Brand = { ...current, ...patch, updatedAt: clock() };
      await uniqueSlug(store.brands.replace(next));
      await store.products.refreshBrand(brandRef(next));
      return next;
    },

    async deleteBrand(id: string): Promise<void> {
      if (!await store.brands.get(id)) throw notFound("brand");
      if (await store.products.count({ brandId: id }) > 0) {
        throw conflict("the brand has products; change or delete them first");
      }
      await store.brands.remove(id);
    },

    async createProduct(input: ProductInput): Promise<Product> {
      checkCurrency(input.price);
      const now = clock();
      const { categoryId, brandId, ...fields } = input;
      const product: Product = {
        id: crypto.randomUUID(),
        ...fields,
        slug: slugFor(input),
        category: await categoryOf(categoryId),
        brand: await brandOf(brandId),
        createdAt: now,
        updatedAt: now,
      };
      await uniqueSlug(store.products.insert(product));
      await publish("catalog.product.created", snapshot(product));
      return product;
    },

    async updateProduct(id: string, patch: ProductPatch): Promise<Product> {
      const current = await store.products.get(id);
      if (!current) throw notFound("product");
      if (patch.price) checkCurrency(patch.price);
      const { categoryId, brandId, ...fields } = patch;
      const next: Product = {
        ...current,
        ...fields,
        category: categoryId && categoryId !== current.category.id
          ? await categoryOf(categoryId)
          : current.category,
        brand: brandId !== undefined && brandId !== current.brand?.id
          ? await brandOf(brandId)
          : current.brand,
        updatedAt: clock(),
      };
      if (!await uniqueSlug(store.products.replace(next))) throw notFound("product");
      await publish("catalog.product.updated", snapshot(next));
      if (next.price.amount !== current.price.amount) {
        await publish("catalog.product.price_changed", {
          productId: id,
          oldPrice: current.price,
          newPrice: next.price,
        });
      }
      return next;
    },

    async deleteProduct(id: string): Promise<void> {
      const removed = await store.products.remove(id);
      if (!removed) throw notFound("product");
      await publish("catalog.product.deleted", { productId: id });
    },

    /** A category or brand by id or slug, as the listing's filters accept both. */
    async resolveCategory(reference: string): Promise<Category | undefined> {
      return await store.categories.get(reference) ?? await store.categories.findBySlug(reference);
    },

    async resolveBrand(reference: string): Promise<Brand | undefined> {
      return await store.brands.get(reference) ?? await store.brands.findBySlug(reference);
    },

    async stats() {
      const [products, categories, brands] = await Promise.all([
        store.products.stats(),
        store.categories.list(),
        store.brands.list(),
      ]);
      return { ...products, categories: categories.length, brands: brands.length };
    },
  };
}

export type Catalog = ReturnType<typeof createCatalog>;
