/**
 * The envelopes of lists, as named components: a generated client gets one type per list
 * (`ProductPage`, `BrandList`) rather than an unnamed object it cannot name.
 */
import { z } from "@hono/zod-openapi";

type Items<Item extends z.ZodType> = { items: z.ZodArray<Item> };
type Page<Item extends z.ZodType> = Items<Item> & { nextCursor: z.ZodNullable<z.ZodString> };

const nextCursor = z.string().nullable().openapi({
  description: "the `cursor` of the next page; null on the last one",
});

/**
 * One page of a paged list, as kit/paging's `pageOf` makes it, named after its item: `pageSchema("Order",
 * order)` is `OrderPage`. Given `total`, which says what it counts, the page also tells how many items
 * the list holds on all its pages.
 */
export function pageSchema<Item extends z.ZodType>(itemName: string, item: Item): z.ZodObject<Page<Item>>;
export function pageSchema<Item extends z.ZodType>(
  itemName: string,
  item: Item,
  total: string,
): z.ZodObject<Page<Item> & { total: z.ZodNumber }>;
export function pageSchema(itemName: string, item: z.ZodType, total?: string) {
  const page = { items: z.array(item), nextCursor };
  const shape = total === undefined
    ? page
    : { ...page, total: z.number().int().nonnegative().openapi({ description: total }) };
  return z.object(shape).openapi(`${itemName}Page`);
}

/**
 * A whole list in one answer, without paging, named after what it lists: `listSchema("Brand", brand)` is
 * `BrandList`.
 */
export function listSchema<Item extends z.ZodType>(itemName: string, item: Item): z.ZodObject<Items<Item>> {
  return z.object({ items: z.array(item) }).openapi(`${itemName}List`);
}
