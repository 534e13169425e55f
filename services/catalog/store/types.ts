/**
 * What the catalog needs from a store. The MongoDB store and the in-process store both implement
 * it, and both pass store/contract_test.ts.
 */
import type { DocumentOutbox, PendingEvent } from "@multishop/kit/messaging";
import type { About, ContentItem, ContentKind } from "../domain/content.ts";
import type {
  Brand,
  BrandRef,
  CatalogStats,
  Category,
  CategoryRef,
  ContactMessage,
  Product,
  ProductQuery,
} from "../domain/model.ts";

export interface CatalogStore {
  /** Creates the indexes (unique slugs, the listing's sort orders); safe to run at every start. */
  prepare(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
  categories: {
    list(): Promise<Category[]>;
    get(id: string): Promise<Category | undefined>;
    findBySlug(slug: string): Promise<Category | undefined>;
    /** Throws DuplicateSlugError when the slug is taken. */
    insert(category: Category): Promise<void>;
    replace(category: Category): Promise<boolean>;
    remove(id: string): Promise<boolean>;
  };
  brands: {
    list(): Promise<Brand[]>;
    get(id: string): Promise<Brand | undefined>;
    findBySlug(slug: string): Promise<Brand | undefined>;
    insert(brand: Brand): Promise<void>;
    replace(brand: Brand): Promise<boolean>;
    remove(id: string): Promise<boolean>;
  };
  products: {
    /** Products matching the query in its sort order, ties broken by id, starting after `query.after`. */
    list(query: ProductQuery): Promise<Product[]>;
    get(id: string): Promise<Product | undefined>;
    findBySlug(slug: string): Promise<Product | undefined>;
    /** Stores the product with `events` pending (none for seeded data); throws DuplicateSlugError. */
    insert(product: Product, events?: readonly PendingEvent[]): Promise<void>;
    /**
     * Replaces the product and appends `events` to its pending events, in one write, if it is still
     * as it was read (`expected.updatedAt`); false when it changed meanwhile or is gone.
     */
    replace(product: Product, change: ProductChange): Promise<boolean>;
    /**
     * Deletes the product, on the same terms as `replace`. Until its `events` are published it stays
     * as a tombstone that no read, count or slug sees.
     */
    remove(id: string, change: ProductChange): Promise<boolean>;
    count(filter: { categoryId?: string; brandId?: string }): Promise<number>;
    /** Rewrites the category or brand that products carry, after it was renamed or moved. */
    refreshCategory(category: CategoryRef): Promise<void>;
    refreshBrand(brand: BrandRef): Promise<void>;
    stats(): Promise<Omit<CatalogStats, "categories" | "brands">>;
  };
  /** The products' pending events, which the catalog's relay publishes. */
  outbox: DocumentOutbox;
  content: {
    list(kind: ContentKind, options: { activeOnly: boolean }): Promise<ContentItem[]>;
    get(kind: ContentKind, id: string): Promise<ContentItem | undefined>;
    insert(item: ContentItem): Promise<void>;
    replace(item: ContentItem): Promise<boolean>;
    remove(kind: ContentKind, id: string): Promise<boolean>;
    about(): Promise<About | undefined>;
    setAbout(about: About): Promise<void>;
  };
  contact: {
    insert(message: ContactMessage): Promise<void>;
    /** Newest first, after the cursor's message. */
    list(
      options: { limit: number; unreadOnly: boolean; after?: { createdAt: Date; id: string } },
    ): Promise<ContactMessage[]>;
    markRead(id: string): Promise<boolean>;
    remove(id: string): Promise<boolean>;
  };
}

/** A write of a product that read it first: it applies only to the product as it was read. */
export interface ProductChange {
  expectedUpdatedAt: Date;
  events: readonly PendingEvent[];
}
