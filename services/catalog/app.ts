/** The catalog's HTTP routes, built from injected dependencies; no I/O happens at import. */
import { createRoute, z } from "@hono/zod-openapi";
import { type App, createApp, type ServiceAppDeps } from "@multishop/kit/app";
import { bearerSecurity, requireRole, requireStatsReader, statsReadScope } from "@multishop/kit/auth";
import { publicCache } from "@multishop/kit/cache";
import { listSchema, pageSchema } from "@multishop/kit/contracts/lists";
import { money } from "@multishop/kit/contracts/money";
import { jsonBody, jsonResponse, orNull, problems } from "@multishop/kit/openapi";
import { createdPosition, decodeCursor, pageOf, pagingQuery } from "@multishop/kit/paging";
import { ProblemError } from "@multishop/kit/problem";
import type { Catalog } from "./catalog.ts";
import {
  aboutSchema,
  type ContentItem,
  contentItemSchemas,
  type ContentKind,
  contentKinds,
  contentSchemas,
  type ShownContentItem,
} from "./domain/content.ts";
import {
  brandInput,
  brandPatch,
  categoryInput,
  categoryPatch,
  contactInput,
  idSchema,
  productCursor,
  productInput,
  productListQuery,
  productPatch,
} from "./domain/inputs.ts";
import { type ProductStatus, sortValue } from "./domain/model.ts";
import { foldText } from "./domain/text.ts";
import type { CatalogStore } from "./store/types.ts";

export interface CatalogAppDeps extends ServiceAppDeps {
  catalog: Catalog;
  store: CatalogStore;
  cache: { maxAgeSeconds: number; sharedMaxAgeSeconds: number };
  clock: () => Date;
}

export const catalogDocument = {
  title: "MultiShop Catalog",
  version: "1.0.0",
  description: "Categories, brands, products, storefront content and contact messages.",
};

const timestamps = { createdAt: z.string().datetime(), updatedAt: z.string().datetime() };
const categorySchema = z.object({
  id: z.uuid(),
  name: z.string(),
  slug: z.string(),
  image: z.string().nullable(),
  parentId: z.uuid().nullable(),
  sortOrder: z.number().int(),
  ...timestamps,
}).openapi("Category");
const categoryTreeSchema = categorySchema.extend({ children: z.array(categorySchema) }).openapi(
  "CategoryTree",
);
const brandSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  slug: z.string(),
  logo: z.string().nullable(),
  ...timestamps,
})
  .openapi("Brand");
/** The category and brand as a product carries them, so that one read shows both. */
const categorySummary = z.object({
  id: z.uuid(),
  name: z.string(),
  slug: z.string(),
  parentId: z.uuid().nullable(),
})
  .openapi("CategorySummary");
const brandSummary = z.object({ id: z.uuid(), name: z.string(), slug: z.string() }).openapi("BrandSummary");
const productSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  slug: z.string(),
  description: z.string(),
  info: z.string(),
  images: z.array(z.object({ url: z.string(), alt: z.string() }).openapi("ProductImage")),
  price: money,
  category: categorySummary,
  brand: orNull(brandSummary),
  attributes: z.array(z.object({ key: z.string(), value: z.string() }).openapi("ProductAttribute")),
  status: z.enum(["draft", "active", "archived"]),
  ...timestamps,
}).openapi("Product");
const productSummary = z.object({ id: z.uuid(), name: z.string(), price: money }).openapi("ProductSummary");
const statsSchema = z.object({
  products: z.number().int(),
  activeProducts: z.number().int(),
  categories: z.number().int(),
  brands: z.number().int(),
  averagePrice: z.number().nullable().openapi({ description: "in minor units" }),
  cheapest: orNull(productSummary),
  dearest: orNull(productSummary),
}).openapi("CatalogStats");
const contactSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  email: z.string(),
  subject: z.string(),
  message: z.string(),
  read: z.boolean(),
  createdAt: z.string().datetime(),
}).openapi("ContactMessage");
const contactReceiptSchema = z.object({ id: z.uuid() }).openapi("ContactReceipt", {
  description: "The message is received; `id` names it",
});

const idParam = z.object({ id: idSchema });
const adminOnly = { security: bearerSecurity, middleware: [requireRole("admin")] };
const noContent = { 204: { description: "Done" } };

/**
 * Each content kind's nouns in its operation ids (listSliders, createSlider...) and schema names
 * (Slider, SliderInput, SliderList). Written out, not derived from the path, because clients are
 * generated from these names and must not change with it; a new kind does not compile until it is
 * named here.
 */
const contentNames: Record<ContentKind, { many: string; one: string }> = {
  sliders: { many: "Sliders", one: "Slider" },
  "special-offers": { many: "SpecialOffers", one: "SpecialOffer" },
  features: { many: "Features", one: "Feature" },
  "offer-discounts": { many: "OfferDiscounts", one: "OfferDiscount" },
};

export function createCatalogApp(deps: CatalogAppDeps): App {
  const { catalog, store } = deps;
  const app = createApp({
    ...catalogDocument,
    logger: deps.logger,
    bodyLimitBytes: deps.bodyLimitBytes,
    readiness: deps.readiness,
    verifyToken: deps.verifyToken,
  });
  const cached = publicCache(deps.cache);
  const isAdmin = (c: { get(key: "principal"): { roles: string[] } | undefined }) =>
    c.get("principal")?.roles.includes("admin") ?? false;

  // Categories
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/categories",
      operationId: "listCategories",
      tags: ["categories"],
      summary: "Categories as a tree, in order",
      description: "Public: the top-level categories by sortOrder, then name, each with its subcategories " +
        "(one level deep).",
      middleware: [cached],
      responses: {
        200: jsonResponse(
          listSchema("Category", categoryTreeSchema),
          "Top-level categories with their children",
        ),
      },
    }),
    async (c) => {
      const all = await store.categories.list();
      const tree = all.filter((category) => !category.parentId).map((parent) => ({
        ...parent,
        children: all.filter((child) => child.parentId === parent.id),
      }));
      return c.json({ items: tree }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/categories/{id}",
      operationId: "getCategory",
      tags: ["categories"],
      summary: "One category",
      description: "Public: one category by its id, without its subcategories.",
      middleware: [cached],
      request: { params: idParam },
      responses: { 200: jsonResponse(categorySchema, "The category"), ...problems(400, 404) },
    }),
    async (c) => {
      const category = await store.categories.get(c.req.valid("param").id);
      if (!category) throw new ProblemError({ status: 404, detail: "no such category" });
      return c.json(category, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/categories",
      operationId: "createCategory",
      tags: ["categories"],
      summary: "Create a category",
      description: "Needs the admin role. Without a slug, one is made from the name; a slug in use " +
        "answers 409, and a parent that is not a top-level category 422.",
      ...adminOnly,
      request: { body: jsonBody(categoryInput) },
      responses: {
        201: jsonResponse(categorySchema, "The new category"),
        ...problems(400, 401, 403, 409, 415, 422),
      },
    }),
    async (c) => {
      const category = await catalog.createCategory(c.req.valid("json"));
      c.header("location", `/v1/categories/${category.id}`);
      return c.json(category, 201);
    },
  );
  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/categories/{id}",
      operationId: "updateCategory",
      tags: ["categories"],
      summary: "Change a category",
      description: "Needs the admin role. Only the fields sent change; the category's products show its " +
        "new name and slug.",
      ...adminOnly,
      request: { params: idParam, body: jsonBody(categoryPatch) },
      responses: {
        200: jsonResponse(categorySchema, "The category"),
        ...problems(400, 401, 403, 404, 409, 415, 422),
      },
    }),
    async (c) => c.json(await catalog.updateCategory(c.req.valid("param").id, c.req.valid("json")), 200),
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/categories/{id}",
      operationId: "deleteCategory",
      tags: ["categories"],
      summary: "Delete an empty category",
      description: "Needs the admin role. A category that still has subcategories or products answers 409.",
      ...adminOnly,
      request: { params: idParam },
      responses: { ...noContent, ...problems(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      await catalog.deleteCategory(c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  // Brands
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/brands",
      operationId: "listBrands",
      tags: ["brands"],
      summary: "All brands by name",
      description: "Public: every brand in one answer, without paging.",
      middleware: [cached],
      responses: { 200: jsonResponse(listSchema("Brand", brandSchema), "Brands") },
    }),
    async (c) => c.json({ items: await store.brands.list() }, 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/brands/{id}",
      operationId: "getBrand",
      tags: ["brands"],
      summary: "One brand",
      description: "Public: one brand by its id.",
      middleware: [cached],
      request: { params: idParam },
      responses: { 200: jsonResponse(brandSchema, "The brand"), ...problems(400, 404) },
    }),
    async (c) => {
      const brand = await store.brands.get(c.req.valid("param").id);
      if (!brand) throw new ProblemError({ status: 404, detail: "no such brand" });
      return c.json(brand, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/brands",
      operationId: "createBrand",
      tags: ["brands"],
      summary: "Create a brand",
      description: "Needs the admin role. Without a slug, one is made from the name; a slug in use " +
        "answers 409.",
      ...adminOnly,
      request: { body: jsonBody(brandInput) },
      responses: { 201: jsonResponse(brandSchema, "The new brand"), ...problems(400, 401, 403, 409, 415) },
    }),
    async (c) => {
      const brand = await catalog.createBrand(c.req.valid("json"));
      c.header("location", `/v1/brands/${brand.id}`);
      return c.json(brand, 201);
    },
  );
  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/brands/{id}",
      operationId: "updateBrand",
      tags: ["brands"],
      summary: "Change a brand",
      description: "Needs the admin role. Only the fields sent change; the brand's products show its new " +
        "name and slug.",
      ...adminOnly,
      request: { params: idParam, body: jsonBody(brandPatch) },
      responses: { 200: jsonResponse(brandSchema, "The brand"), ...problems(400, 401, 403, 404, 409, 415) },
    }),
    async (c) => c.json(await catalog.updateBrand(c.req.valid("param").id, c.req.valid("json")), 200),
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/brands/{id}",
      operationId: "deleteBrand",
      tags: ["brands"],
      summary: "Delete a brand without products",
      description: "Needs the admin role. A brand that still has products answers 409.",
      ...adminOnly,
      request: { params: idParam },
      responses: { ...noContent, ...problems(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      await catalog.deleteBrand(c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  // Products
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/products",
      operationId: "listProducts",
      tags: ["products"],
      summary: "Find products",
      description: "Filters combine; `category` includes its subcategories; `q` ignores case and accents. " +
        "Each product comes with its category and brand.",
      middleware: [cached],
      request: { query: productListQuery },
      responses: {
        200: jsonResponse(pageSchema("Product", productSchema), "A page of products"),
        ...problems(400, 401, 403),
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      if (query.status !== "active" && !isAdmin(c)) {
        throw new ProblemError({
          status: 403,
          kind: "forbidden",
          detail: "only admins see products that are not active",
        });
      }
      const statuses: ProductStatus[] = query.status === "any"
        ? ["draft", "active", "archived"]
        : [query.status];
      const after = query.cursor ? decodeCursor(query.cursor, productCursor) : undefined;
      if (after && after.sort !== query.sort) {
        throw new ProblemError({
          status: 400,
          kind: "validation",
          errors: [{ field: "query.cursor", reason: "belongs to another sort order" }],
        });
      }
      const [category, brand] = await Promise.all([
        query.category ? catalog.resolveCategory(query.category) : undefined,
        query.brand ? catalog.resolveBrand(query.brand) : undefined,
      ]);
      if ((query.category && !category) || (query.brand && !brand)) {
        return c.json({ items: [], nextCursor: null }, 200);
      }
      const search = query.q ? foldText(query.q) : undefined;
      const items = await store.products.list({
        statuses,
        categoryId: category?.id,
        brandId: brand?.id,
        minPrice: query.minPrice,
        maxPrice: query.maxPrice,
        search: search || undefined,
        sort: query.sort,
        after,
        limit: query.limit + 1,
      });
      return c.json(
        pageOf(
          items,
          query.limit,
          (last) => ({ sort: query.sort, value: sortValue(last, query.sort), id: last.id }),
        ),
        200,
      );
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/products/{id}",
      operationId: "getProduct",
      tags: ["products"],
      summary: "One product with its category and brand",
      description: "Public, but only admins find a product that is not active: anyone else gets 404.",
      middleware: [cached],
      request: { params: idParam },
      responses: { 200: jsonResponse(productSchema, "The product"), ...problems(400, 404) },
    }),
    async (c) => {
      const product = await store.products.get(c.req.valid("param").id);
      if (!product || (product.status !== "active" && !isAdmin(c))) {
        throw new ProblemError({ status: 404, detail: "no such product" });
      }
      return c.json(product, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/products",
      operationId: "createProduct",
      tags: ["products"],
      summary: "Create a product",
      description: "Needs the admin role. A product is a draft unless `status` says otherwise; its price " +
        "must be in the shop's currency, and its category and brand must exist (422).",
      ...adminOnly,
      request: { body: jsonBody(productInput) },
      responses: {
        201: jsonResponse(productSchema, "The new product"),
        ...problems(400, 401, 403, 409, 415, 422),
      },
    }),
    async (c) => {
      const product = await catalog.createProduct(c.req.valid("json"));
      c.header("location", `/v1/products/${product.id}`);
      return c.json(product, 201);
    },
  );
  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/products/{id}",
      operationId: "updateProduct",
      tags: ["products"],
      summary: "Change a product (any subset of its fields)",
      description: "Needs the admin role. Only the fields sent change; a slug in use, or someone else " +
        "changing the product at the same time, answers 409.",
      ...adminOnly,
      request: { params: idParam, body: jsonBody(productPatch) },
      responses: {
        200: jsonResponse(productSchema, "The product"),
        ...problems(400, 401, 403, 404, 409, 415, 422),
      },
    }),
    async (c) => c.json(await catalog.updateProduct(c.req.valid("param").id, c.req.valid("json")), 200),
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/products/{id}",
      operationId: "deleteProduct",
      tags: ["products"],
      summary: "Delete a product",
      description: "Needs the admin role. To take a product off sale but keep it on record, set its " +
        "status to archived instead.",
      ...adminOnly,
      request: { params: idParam },
      responses: { ...noContent, ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      await catalog.deleteProduct(c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/catalog/stats",
      operationId: "getCatalogStats",
      tags: ["admin"],
      summary: "Dashboard figures",
      description: `Needs the admin role, or a client token with the \`${statsReadScope}\` scope ` +
        "(the dashboard's).",
      security: bearerSecurity,
      middleware: [requireStatsReader()],
      responses: {
        200: jsonResponse(statsSchema, "Counts, average price, cheapest and dearest product"),
        ...problems(401, 403),
      },
    }),
    async (c) => c.json(await catalog.stats(), 200),
  );

  registerContentRoutes(app, deps, cached, isAdmin);
  registerContactRoutes(app, deps);
  return app;
}

function registerContentRoutes(
  app: App,
  deps: CatalogAppDeps,
  cached: ReturnType<typeof publicCache>,
  isAdmin: (c: { get(key: "principal"): { roles: string[] } | undefined }) => boolean,
) {
  const { store } = deps;
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/content/about",
      operationId: "getAboutPage",
      tags: ["content"],
      summary: "The about page",
      description: "Public; answers 404 until an admin has written the page.",
      middleware: [cached],
      responses: { 200: jsonResponse(aboutSchema, "The about page"), ...problems(404) },
    }),
    async (c) => {
      const about = await store.content.about();
      if (!about) throw new ProblemError({ status: 404, detail: "the about page is not written yet" });
      return c.json(about, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/content/about",
      operationId: "updateAboutPage",
      tags: ["content"],
      summary: "Write the about page",
      description: "Needs the admin role. Replaces the whole page.",
      ...adminOnly,
      request: { body: jsonBody(aboutSchema) },
      responses: { 200: jsonResponse(aboutSchema, "The about page"), ...problems(400, 401, 403, 415) },
    }),
    async (c) => {
      const about = c.req.valid("json");
      await store.content.setAbout(about);
      return c.json(about, 200);
    },
  );

  // An item's fields are its kind's, as its input schema took them or the seed wrote them.
  const toJson = (item: ContentItem) =>
    ({
      id: item.id,
      ...item.fields,
      active: item.active,
      sortOrder: item.sortOrder,
      createdAt: item.createdAt.toISOString(),
      updatedAt: item.updatedAt.toISOString(),
    }) as ShownContentItem;
  for (const kind of contentKinds) {
    const names = contentNames[kind];
    const schema = contentSchemas[kind].openapi(`${names.one}Input`);
    const output = contentItemSchemas[kind].openapi(names.one);
    const contentParams = z.object({ id: idSchema });
    app.openapi(
      createRoute({
        method: "get",
        path: `/v1/content/${kind}`,
        operationId: `list${names.many}`,
        tags: ["content"],
        summary: `Active ${kind}, in order (admins may ask for all)`,
        description: "Public: active items by sortOrder, without paging; `all=true` adds the inactive " +
          "ones and needs the admin role.",
        middleware: [cached],
        request: { query: z.object({ all: z.enum(["true", "false"]).default("false") }) },
        responses: { 200: jsonResponse(listSchema(names.one, output), kind), ...problems(400, 403) },
      }),
      async (c) => {
        const all = c.req.valid("query").all === "true";
        if (all && !isAdmin(c)) {
          throw new ProblemError({
            status: 403,
            kind: "forbidden",
            detail: "only admins see inactive content",
          });
        }
        return c.json({ items: (await store.content.list(kind, { activeOnly: !all })).map(toJson) }, 200);
      },
    );
    app.openapi(
      createRoute({
        method: "post",
        path: `/v1/content/${kind}`,
        operationId: `create${names.one}`,
        tags: ["content"],
        summary: `Add to ${kind}`,
        description: "Needs the admin role. `active` defaults to true and `sortOrder` to 0.",
        ...adminOnly,
        request: { body: jsonBody(schema) },
        responses: { 201: jsonResponse(output, "The new item"), ...problems(400, 401, 403, 415) },
      }),
      async (c) => {
        const { active, sortOrder, ...fields } = c.req.valid("json") as z.infer<typeof schema>;
        const now = deps.clock();
        const item: ContentItem = {
          id: crypto.randomUUID(),
          kind,
          active,
          sortOrder,
          fields,
          createdAt: now,
          updatedAt: now,
        };
        await store.content.insert(item);
        return c.json(toJson(item), 201);
      },
    );
    app.openapi(
      createRoute({
        method: "put",
        path: `/v1/content/${kind}/{id}`,
        operationId: `update${names.one}`,
        tags: ["content"],
        summary: `Replace one of ${kind}`,
        description: "Needs the admin role. Replaces every field: an optional one left out is removed.",
        ...adminOnly,
        request: { params: contentParams, body: jsonBody(schema) },
        responses: { 200: jsonResponse(output, "The item"), ...problems(400, 401, 403, 404, 415) },
      }),
      async (c) => {
        const current = await store.content.get(kind, c.req.valid("param").id);
        if (!current) throw new ProblemError({ status: 404, detail: `no such item in ${kind}` });
        const { active, sortOrder, ...fields } = c.req.valid("json") as z.infer<typeof schema>;
        const item: ContentItem = { ...current, active, sortOrder, fields, updatedAt: deps.clock() };
        await store.content.replace(item);
        return c.json(toJson(item), 200);
      },
    );
    app.openapi(
      createRoute({
        method: "delete",
        path: `/v1/content/${kind}/{id}`,
        operationId: `delete${names.one}`,
        tags: ["content"],
        summary: `Delete one of ${kind}`,
        description: "Needs the admin role. To hide an item but keep it, set `active` to false instead.",
        ...adminOnly,
        request: { params: contentParams },
        responses: { ...noContent, ...problems(400, 401, 403, 404) },
      }),
      async (c) => {
        if (!await store.content.remove(kind, c.req.valid("param").id)) {
          throw new ProblemError({ status: 404, detail: `no such item in ${kind}` });
        }
        return c.body(null, 204);
      },
    );
  }
}

function registerContactRoutes(app: App, deps: CatalogAppDeps) {
  const { store } = deps;
  const cursorSchema = z.object({ createdAt: z.string().datetime(), id: z.string() });
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/contact",
      operationId: "sendContactMessage",
      tags: ["contact"],
      summary: "Send the shop a message",
      description: "Public: anyone may write, signed in or not; admins read the messages.",
      request: { body: jsonBody(contactInput) },
      responses: { 201: jsonResponse(contactReceiptSchema, "Received"), ...problems(400, 413, 415) },
    }),
    async (c) => {
      const id = crypto.randomUUID();
      await store.contact.insert({ id, ...c.req.valid("json"), read: false, createdAt: deps.clock() });
      return c.json({ id }, 201);
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/contact",
      operationId: "listContactMessages",
      tags: ["contact"],
      summary: "Messages sent to the shop, newest first",
      description: "Needs the admin role. Paged with `limit` and `cursor`; `unread=true` leaves out the " +
        "messages already read.",
      ...adminOnly,
      request: { query: z.object({ ...pagingQuery, unread: z.enum(["true", "false"]).default("false") }) },
      responses: {
        200: jsonResponse(pageSchema("ContactMessage", contactSchema), "A page of messages"),
        ...problems(400, 401, 403),
      },
    }),
    async (c) => {
      const { limit, cursor, unread } = c.req.valid("query");
      const after = cursor ? decodeCursor(cursor, cursorSchema) : undefined;
      const messages = await store.contact.list({
        limit: limit + 1,
        unreadOnly: unread === "true",
        after: after && { createdAt: new Date(after.createdAt), id: after.id },
      });
      return c.json(pageOf(messages, limit, createdPosition), 200);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/contact/{id}/read",
      operationId: "markContactMessageRead",
      tags: ["contact"],
      summary: "Mark a message read",
      description: "Needs the admin role. Marking a message that is already read changes nothing.",
      ...adminOnly,
      request: { params: idParam },
      responses: { ...noContent, ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      if (!await store.contact.markRead(c.req.valid("param").id)) {
        throw new ProblemError({ status: 404, detail: "no such message" });
      }
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/contact/{id}",
      operationId: "deleteContactMessage",
      tags: ["contact"],
      summary: "Delete a message",
      description: "Needs the admin role. The message is gone for good.",
      ...adminOnly,
      request: { params: idParam },
      responses: { ...noContent, ...problems(400, 401, 403, 404) },
    }),
    async (c) => {
      if (!await store.contact.remove(c.req.valid("param").id)) {
        throw new ProblemError({ status: 404, detail: "no such message" });
      }
      return c.body(null, 204);
    },
  );
}
