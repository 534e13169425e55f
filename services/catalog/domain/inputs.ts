/**
 * What clients may send. Everything is parsed by zod into plain values before it reaches a store, so
 * no client object ever becomes a query (`{"$gt": ""}` is just an invalid string). No I/O.
 */
import { z } from "@hono/zod-openapi";
import { money } from "@multishop/kit/contracts/money";
import { patchOf } from "@multishop/kit/openapi";
import { pagingQuery } from "@multishop/kit/paging";
import { slugPattern } from "./text.ts";

const name = (max: number) =>
  z.string().trim().min(1, "must not be empty").max(max, `must be at most ${max} characters`);
const slug = z.string().max(80).regex(slugPattern, "lower-case words joined by '-'");
const imageUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).max(2000);
export const idSchema = z.uuid("must be an id");

// Each input has a shape without defaults: a PATCH is that shape made partial (a field left out stays
// as it is), and a create is the same shape with defaults for what may be left out.
const categoryShape = {
  name: name(80),
  slug: slug.optional(),
  image: imageUrl.nullable(),
  parentId: idSchema.nullable(),
  sortOrder: z.number().int().min(0).max(100_000),
};

export const categoryInput = z.strictObject({
  ...categoryShape,
  image: categoryShape.image.default(null),
  parentId: categoryShape.parentId.default(null),
  sortOrder: categoryShape.sortOrder.default(0),
}).openapi("CategoryInput");

export const categoryPatch = patchOf(z.strictObject(categoryShape)).openapi("CategoryPatch");

const brandShape = { name: name(80), slug: slug.optional(), logo: imageUrl.nullable() };

export const brandInput = z.strictObject({ ...brandShape, logo: brandShape.logo.default(null) }).openapi(
  "BrandInput",
);

export const brandPatch = patchOf(z.strictObject(brandShape)).openapi("BrandPatch");

/** The dearest a product may be, in minor units; price filters go no higher either. */
const highestPrice = 100_000_000;

const productShape = {
  name: name(200),
  slug: slug.optional(),
  description: z.string().trim().max(5_000),
  info: z.string().trim().max(20_000).openapi({ description: "long product details (plain text)" }),
  images: z.array(
    z.strictObject({ url: imageUrl, alt: z.string().trim().max(200).default("") }).openapi(
      "ProductImageInput",
    ),
  ).max(20),
  price: money.refine((price) => price.amount <= highestPrice, {
    message: `must be at most ${highestPrice}`,
    path: ["amount"],
  }),
  categoryId: idSchema,
  brandId: idSchema.nullable(),
  attributes: z.array(z.strictObject({ key: name(60), value: name(200) }).openapi("ProductAttributeInput"))
    .max(50),
  status: z.enum(["draft", "active", "archived"]),
};

export const productInput = z.strictObject({
  ...productShape,
  description: productShape.description.default(""),
  info: productShape.info.default(""),
  images: productShape.images.default([]),
  brandId: productShape.brandId.default(null),
  attributes: productShape.attributes.default([]),
  status: productShape.status.default("draft"),
}).openapi("ProductInput");

export const productPatch = patchOf(z.strictObject(productShape)).openapi("ProductPatch");

export type CategoryInput = z.infer<typeof categoryInput>;
export type BrandInput = z.infer<typeof brandInput>;
export type ProductInput = z.infer<typeof productInput>;
export type ProductPatch = z.infer<typeof productPatch>;

const reference = z.string().trim().min(1).max(100).openapi({ description: "an id or a slug" });
const priceBound = z.coerce.number().int("is in minor units (cents)").min(0).max(highestPrice);

export const productListQuery = z.object({
  category: reference.optional(),
  brand: reference.optional(),
  q: z.string().trim().max(100).optional().openapi({
    description: "words to find in name, description or brand",
  }),
  minPrice: priceBound.optional(),
  maxPrice: priceBound.optional(),
  sort: z.enum(["newest", "price_asc", "price_desc", "name"]).default("newest"),
  status: z.enum(["active", "draft", "archived", "any"]).default("active").openapi({
    description: "anything but active needs the admin role",
  }),
  ...pagingQuery,
}).refine(
  (query) => query.minPrice === undefined || query.maxPrice === undefined || query.minPrice <= query.maxPrice,
  {
    message: "must not be below minPrice",
    path: ["maxPrice"],
  },
);

export const productCursor = z.object({
  sort: z.string(),
  value: z.union([z.string(), z.number()]),
  id: z.string(),
});

export const contactInput = z.strictObject({
  name: name(100),
  email: z.email("must be a valid email address").max(254),
  subject: name(200),
  message: name(5_000),
}).openapi("ContactInput");
