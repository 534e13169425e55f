/**
 * Storefront content (MultiShop's FeatureSlider, SpecialOffer, Feature, OfferDiscount and About):
 * one shape per kind, each with an active flag and an order. No I/O.
 */
import { z } from "@hono/zod-openapi";

const text = (max: number) => z.string().trim().min(1, "must not be empty").max(max);
const url = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).max(2000);
const common = {
  active: z.boolean().default(true),
  sortOrder: z.number().int().min(0).max(100_000).default(0),
};

export const contentSchemas = {
  sliders: z.strictObject({
    title: text(120),
    description: text(500),
    image: url,
    link: url.optional(),
    ...common,
  }),
  "special-offers": z.strictObject({
    title: text(120),
    subtitle: text(300),
    image: url,
    link: url.optional(),
    ...common,
  }),
  features: z.strictObject({
    title: text(120),
    description: text(300).optional(),
    icon: text(60),
    ...common,
  }),
  "offer-discounts": z.strictObject({
    title: text(120),
    subtitle: text(300),
    image: url,
    buttonText: text(40),
    link: url.optional(),
    ...common,
  }),
} as const;

export type ContentKind = keyof typeof contentSchemas;
export const contentKinds = Object.keys(contentSchemas) as ContentKind[];

/** An item as it is shown: its id, its kind's fields, its flag and order, and when it was written. */
const shownItem = <Fields extends z.ZodRawShape>(fields: Fields) =>
  z.object({
    id: z.uuid(),
    ...fields,
    active: z.boolean(),
    sortOrder: z.number().int(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  });

/**
 * Each kind's items as they are shown. Their fields are plain strings, as stored: the input's rules are
 * for what admins write, and the demo content links to pages of the shop by path (`/categories/audio`).
 */
export const contentItemSchemas = {
  sliders: shownItem({
    title: z.string(),
    description: z.string(),
    image: z.string(),
    link: z.string().optional(),
  }),
  "special-offers": shownItem({
    title: z.string(),
    subtitle: z.string(),
    image: z.string(),
    link: z.string().optional(),
  }),
  features: shownItem({ title: z.string(), description: z.string().optional(), icon: z.string() }),
  "offer-discounts": shownItem({
    title: z.string(),
    subtitle: z.string(),
    image: z.string(),
    buttonText: z.string(),
    link: z.string().optional(),
  }),
} satisfies Record<ContentKind, z.ZodObject>;

export type ShownContentItem = z.output<(typeof contentItemSchemas)[ContentKind]>;

export interface ContentItem {
  id: string;
  kind: ContentKind;
  active: boolean;
  sortOrder: number;
  fields: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

export const aboutSchema = z.strictObject({
  description: text(5000),
  address: text(500),
  email: z.email().max(254),
  phone: text(40),
}).openapi("About");

export type About = z.infer<typeof aboutSchema>;
