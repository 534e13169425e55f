/** What the catalog holds, as the rest of the service sees it. No I/O. */
import { foldText } from "./text.ts";
import type { Money } from "@multishop/kit/contracts/money";

export type ProductStatus = "draft" | "active" | "archived";

export interface Category {
  id: string;
  name: string;
  slug: string;
  image: string | null;
  parentId: string | null;
  sortOrder: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface Brand {
  id: string;
  name: string;
  slug: string;
  logo: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The category and brand as a product carries them, so one read returns both (no join per product). */
export interface CategoryRef {
  id: string;
  name: string;
  slug: string;
  parentId: string | null;
}

export interface BrandRef {
  id: string;
  name: string;
  slug: string;
}

export interface ProductImage {
  url: string;
  alt: string;
}

export interface Product {
  id: string;
  name: string;
  slug: string;
  description: string;
  info: string;
  images: ProductImage[];
  price: Money;
  category: CategoryRef;
  brand: BrandRef | null;
  attributes: { key: string; value: string }[];
  status: ProductStatus;
  createdAt: Date;
  updatedAt: Date;
}

export type ProductSort = "newest" | "price_asc" | "price_desc" | "name";

export interface ProductQuery {
  statuses: ProductStatus[];
  /** A category id: products in it or in its children. */
  categoryId?: string;
  brandId?: string;
  minPrice?: number;
  maxPrice?: number;
  /** Folded (see foldText) words that must all appear in name, description or brand. */
  search?: string;
  sort: ProductSort;
  after?: ProductCursor;
  limit: number;
}

/** Where a page ended: the sort value and id of its last product. */
export interface ProductCursor {
  value: string | number;
  id: string;
}

export interface ContactMessage {
  id: string;
  name: string;
  email: string;
  subject: string;
  message: string;
  read: boolean;
  createdAt: Date;
}

export interface CatalogStats {
  products: number;
  activeProducts: number;
  categories: number;
  brands: number;
  averagePrice: number | null;
  cheapest: { id: string; name: string; price: Money } | null;
  dearest: { id: string; name: string; price: Money } | null;
}

/** The value a product sorts by, as stored in a cursor. */
export function sortValue(product: Product, sort: ProductSort): string | number {
  switch (sort) {
    case "newest":
      return product.createdAt.getTime();
    case "price_asc":
    case "price_desc":
      return product.price.amount;
    case "name":
      return foldText(product.name);
  }
}

/** What a free-text search looks in: name, description and brand, folded. */
export function productSearchText(product: Product): string {
  return foldText([product.name, product.brand?.name ?? "", product.description].join(" "));
}

/** The category ids a product is found under: its own, and its parent's. */
export function categoryPath(category: CategoryRef): string[] {
  return category.parentId ? [category.parentId, category.id] : [category.id];
}

export class DuplicateSlugError extends Error {
  constructor(readonly slug: string) {
    super(`slug ${slug} is taken`);
    this.name = "DuplicateSlugError";
  }
}
