/**
 * The catalog's use cases: the rules from domain/ applied in order against the store. A change to a
 * product is stored together with the events that announce it (events.ts), which a relay publishes.
 */
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
import { productChanged, productCreated, productDeleted } from "./events.ts";
import type { CatalogStore } from "./store/types.ts";

export interface CatalogDeps {
  store: CatalogStore;
  /** Called after a write that stored events, so the relay publishes them now. */
  eventsWritten: () => void;
  clock: () => Date;
  currency: string;
}

/** Writes of one product that meet another write of it this many times in a row give up with 409. */
const maxWriteAttempts = 5;

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

  /**
   * The time of a product's next change: now, but always after its previous change, even when
   * another instance's clock is a little ahead, so that consumers can order its events by time.
   */
  function nextChangeOf(product: Product): Date {
    const now = clock();
    return now > product.updatedAt ? now : new Date(product.updatedAt.getTime() + 1);
  }

  /**
   * Reads the product and writes its change with `write`, which stores it only if nobody changed
   * the product since the read (else answers false, and it all runs again from the read): the
   * events a product's document collects then follow the order of its states.
   */
  async function changeProduct(id: string, write: (current: Product) => Promise<boolean>): Promise<void> {
    for (let attempt = 1; attempt <= maxWriteAttempts; attempt++) {
      const current = await store.products.get(id);
      if (!current) throw notFound("product");
      if (await write(current)) {
        deps.eventsWritten();
        return;
      }
    }
    throw conflict("the product is being changed by someone else; try again");
  }

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
      await uniqueSlug(store.products.insert(product, productCreated(product)));
      deps.eventsWritten();
      return product;
    },

    async updateProduct(id: string, patch: ProductPatch): Promise<Product> {
      if (patch.price) checkCurrency(patch.price);
      const { categoryId, brandId, ...fields } = patch;
      let next: Product | undefined;
      await changeProduct(id, async (current) => {
        next = {
          ...current,
          ...fields,
          category: categoryId && categoryId !== current.category.id
            ? await categoryOf(categoryId)
            : current.category,
          brand: brandId !== undefined && brandId !== current.brand?.id
            ? await brandOf(brandId)
            : current.brand,
          updatedAt: nextChangeOf(current),
        };
        return await uniqueSlug(store.products.replace(next, {
          expectedUpdatedAt: current.updatedAt,
          events: productChanged(current, next),
        }));
      });
      return next!;
    },

    async deleteProduct(id: string): Promise<void> {
      await changeProduct(id, (current) =>
        store.products.remove(id, {
          expectedUpdatedAt: current.updatedAt,
          events: productDeleted(id, nextChangeOf(current)),
        }));
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
