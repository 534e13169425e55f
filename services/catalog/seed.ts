/**
 * The demo catalog: 19 categories (11 nested), 20 brands, 500 products and the storefront content.
 * Everything is derived from fixed numbers, so ids are the same on every run: seeding twice adds
 * nothing, and an embedded shop restarted from scratch keeps the ids that other data refers to.
 */
import { stableUuid } from "@multishop/kit/digest";
import type { About, ContentItem, ContentKind } from "./domain/content.ts";
import type { Brand, Category, Product, ProductStatus } from "./domain/model.ts";
import { slugify } from "./domain/text.ts";
import type { CatalogStore } from "./store/types.ts";

interface Leaf {
  parent: string | null;
  name: string;
  nouns: string[];
  materials: string[];
  price: [number, number];
  brands: string[];
  extra?: { key: string; values: string[] };
}

const parents = ["Women", "Men", "Kids", "Home", "Electronics", "Sports & Outdoors", "Beauty", "Books"];

const leaves: Leaf[] = [
  {
    parent: "Women",
    name: "Dresses",
    nouns: ["Wrap Dress", "Maxi Dress", "Shirt Dress", "Slip Dress", "Midi Dress"],
    materials: ["linen", "silk", "organic cotton", "viscose"],
    price: [3900, 18900],
    brands: ["Aurélie", "Sable", "Monarch"],
    extra: { key: "size", values: ["XS", "S", "M", "L", "XL"] },
  },
  {
    parent: "Women",
    name: "Bags",
    nouns: ["Tote", "Crossbody Bag", "Backpack", "Clutch", "Weekender"],
    materials: ["full-grain leather", "waxed canvas", "recycled nylon"],
    price: [2900, 32900],
    brands: ["Aurélie", "Kestrel & Co", "Tidewater"],
  },
  {
    parent: "Men",
    name: "Shirts",
    nouns: ["Oxford Shirt", "Linen Shirt", "Flannel Shirt", "Polo", "Henley"],
    materials: ["cotton", "linen", "merino wool"],
    price: [2400, 9900],
    brands: ["Nordhaven", "Monarch", "Copperleaf"],
    extra: { key: "size", values: ["S", "M", "L", "XL", "XXL"] },
  },
  {
    parent: "Men",
    name: "Shoes",
    nouns: ["Sneakers", "Chelsea Boots", "Loafers", "Derby Shoes", "Sandals"],
    materials: ["suede", "calf leather", "recycled knit"],
    price: [4900, 24900],
    brands: ["Nordhaven", "Stride", "Kestrel & Co"],
    extra: { key: "size", values: ["40", "41", "42", "43", "44", "45"] },
  },
  {
    parent: "Kids",
    name: "Toys",
    nouns: ["Wooden Train Set", "Building Blocks", "Plush Bear", "Jigsaw Puzzle", "Kite"],
    materials: ["beech wood", "recycled plastic", "organic cotton"],
    price: [900, 6900],
    brands: ["Bramble", "Wildwood"],
  },
  {
    parent: "Home",
    name: "Kitchen",
    nouns: ["Chef's Knife", "Cast Iron Skillet", "Dutch Oven", "Cutting Board", "Espresso Maker"],
    materials: ["carbon steel", "enamelled cast iron", "walnut", "stainless steel"],
    price: [1900, 27900],
    brands: ["Maison Olivier", "Terra Home", "Copperleaf"],
  },
  {
    parent: "Home",
    name: "Furniture",
    nouns: ["Armchair", "Side Table", "Bookshelf", "Floor Lamp", "Dining Chair"],
    materials: ["oak", "rattan", "powder-coated steel", "bouclé"],
    price: [6900, 99900],
    brands: ["Terra Home", "Halcyon", "Maison Olivier"],
  },
  {
    parent: "Electronics",
    name: "Audio",
    nouns: ["Wireless Headphones", "Bluetooth Speaker", "Earbuds", "Turntable", "Soundbar"],
    materials: ["aluminium", "recycled plastic", "walnut veneer"],
    price: [3900, 69900],
    brands: ["Lumen Audio", "Voltaic", "Pixel Forge"],
    extra: { key: "battery", values: ["20 h", "30 h", "40 h", "mains"] },
  },
  {
    parent: "Electronics",
    name: "Phones",
    nouns: ["Smartphone", "Phone Case", "Wireless Charger", "Power Bank", "Screen Protector"],
    materials: ["aluminium", "tempered glass", "silicone"],
    price: [1200, 119900],
    brands: ["Pixel Forge", "Voltaic", "Brightfield"],
  },
  {
    parent: "Sports & Outdoors",
    name: "Running",
    nouns: ["Running Shoes", "Running Jacket", "Hydration Vest", "Running Tights", "GPS Watch"],
    materials: ["recycled polyester", "mesh", "merino wool"],
    price: [2900, 44900],
    brands: ["Stride", "Velocita", "Brightfield"],
    extra: { key: "size", values: ["S", "M", "L", "XL"] },
  },
  {
    parent: "Sports & Outdoors",
    name: "Cycling",
    nouns: ["Road Helmet", "Cycling Jersey", "Bike Light Set", "Saddle Bag", "Cycling Gloves"],
    materials: ["polycarbonate", "recycled polyester", "cordura"],
    price: [1900, 21900],
    brands: ["Velocita", "Stride", "Wildwood"],
  },
  {
    parent: null,
    name: "Beauty",
    nouns: ["Face Serum", "Moisturiser", "Lip Balm", "Hair Oil", "Eau de Parfum"],
    materials: ["rosehip oil", "shea butter", "vitamin C", "argan oil"],
    price: [900, 12900],
    brands: ["Orchid Beauty", "Aurélie", "Halcyon"],
    extra: { key: "volume", values: ["15 ml", "30 ml", "50 ml", "100 ml"] },
  },
  {
    parent: null,
    name: "Books",
    nouns: ["Cookbook", "Travel Guide", "Novel", "Poetry Collection", "Field Guide"],
    materials: ["hardcover", "paperback", "clothbound"],
    price: [900, 4900],
    brands: ["Paperlane Press", "Tidewater"],
    extra: { key: "pages", values: ["192", "256", "320", "448"] },
  },
];

const brandNames = [
  "Aurélie",
  "Nordhaven",
  "Kestrel & Co",
  "Bramble",
  "Lumen Audio",
  "Voltaic",
  "Stride",
  "Velocita",
  "Maison Olivier",
  "Terra Home",
  "Pixel Forge",
  "Wildwood",
  "Sable",
  "Orchid Beauty",
  "Paperlane Press",
  "Tidewater",
  "Copperleaf",
  "Monarch",
  "Brightfield",
  "Halcyon",
];
const adjectives = [
  "Classic",
  "Essential",
  "Heritage",
  "Urban",
  "Coastal",
  "Nordic",
  "Vintage",
  "Studio",
  "Alpine",
  "Everyday",
];
const colours = ["Crème", "Noir", "Olive", "Café", "Slate", "Sand", "Rosé", "Indigo", "Ivory", "Moss"];

export const demoProductCount = 500;

const stableId = (name: string) => stableUuid(`multishop:${name}`);

/** A small deterministic random generator (mulberry32), so the demo data is the same every time. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SeedImages {
  /** The URL of the placeholder image for a leaf category's slug and a variant number 0..3. */
  url(categorySlug: string, variant: number): string;
}

export interface SeedResult {
  categories: number;
  brands: number;
  products: number;
  created: number;
}

export async function seedCatalog(store: CatalogStore, images: SeedImages): Promise<SeedResult> {
  const next = random(20261121);
  const pick = <T>(list: T[]) => list[Math.floor(next() * list.length)];
  const epoch = Date.UTC(2026, 4, 1);
  let created = 0;

  const categories = new Map<string, Category>();
  for (
    const [index, name] of [
      ...parents.map((p) => [null, p] as const),
      ...leaves.map((l) => [l.parent, l.name] as const),
    ].entries()
  ) {
    const [parentName, categoryName] = name;
    const at = new Date(epoch);
    const category: Category = {
      id: await stableId(`category:${categoryName}`),
      name: categoryName,
      slug: slugify(categoryName),
      image: null,
      parentId: parentName ? categories.get(parentName)!.id : null,
      sortOrder: index,
      createdAt: at,
      updatedAt: at,
    };
    categories.set(categoryName, category);
    if (!await store.categories.get(category.id)) {
      await store.categories.insert(category);
      created++;
    }
  }

  const brands = new Map<string, Brand>();
  for (const name of brandNames) {
    const at = new Date(epoch);
    const brand: Brand = {
      id: await stableId(`brand:${name}`),
      name,
      slug: slugify(name),
      logo: null,
      createdAt: at,
      updatedAt: at,
    };
    brands.set(name, brand);
    if (!await store.brands.get(brand.id)) {
      await store.brands.insert(brand);
      created++;
    }
  }

  for (let n = 0; n < demoProductCount; n++) {
    const leaf = leaves[n % leaves.length];
    const category = categories.get(leaf.name)!;
    const brand = brands.get(pick(leaf.brands))!;
    const noun = pick(leaf.nouns);
    const adjective = pick(adjectives);
    const colour = pick(colours);
    const material = pick(leaf.materials);
    const name = `${adjective} ${colour} ${noun}`;
    const [low, high] = leaf.price;
    const amount = Math.round((low + next() * (high - low)) / 100) * 100 - 1;
    const status: ProductStatus = n % 50 === 13 ? "archived" : n % 25 === 7 ? "draft" : "active";
    const at = new Date(epoch + n * 7 * 3_600_000);
    const attributes = [{ key: "colour", value: colour }, { key: "material", value: material }];
    if (leaf.extra) attributes.push({ key: leaf.extra.key, value: pick(leaf.extra.values) });
    const variant = Math.floor(next() * 4);
    const product: Product = {
      id: await stableId(`product:${n}`),
      name,
      slug: `${slugify(name)}-${n + 1}`,
      description:
        `The ${adjective.toLowerCase()} ${noun.toLowerCase()} from ${brand.name}, in ${colour.toLowerCase()} ${material}.`,
      info: [
        `${name} by ${brand.name}.`,
        `Material: ${material}. Colour: ${colour}.`,
        "Free returns within 30 days. Two-year warranty.",
      ].join("\n"),
      images: [0, 1].map((offset) => ({
        url: images.url(category.slug, (variant + offset) % 4),
        alt: `${name}, view ${offset + 1}`,
      })),
      price: { amount, currency: "USD" },
      category: { id: category.id, name: category.name, slug: category.slug, parentId: category.parentId },
      brand: { id: brand.id, name: brand.name, slug: brand.slug },
      attributes,
      status,
      createdAt: at,
      updatedAt: at,
    };
    if (!await store.products.get(product.id)) {
      await store.products.insert(product);
      created++;
    }
  }

  created += await seedContent(store, images);
  return { categories: categories.size, brands: brands.size, products: demoProductCount, created };
}

async function seedContent(store: CatalogStore, images: SeedImages): Promise<number> {
  const at = new Date(Date.UTC(2026, 4, 1));
  const items: [ContentKind, Record<string, unknown>][] = [
    ["sliders", {
      title: "Autumn arrivals",
      description: "Layers for the cooler days, in wool and linen.",
      image: images.url("dresses", 0),
      link: "/categories/women",
    }],
    ["sliders", {
      title: "Cook like you mean it",
      description: "Cast iron, carbon steel and walnut for the kitchen.",
      image: images.url("kitchen", 1),
      link: "/categories/kitchen",
    }],
    ["sliders", {
      title: "Hear every detail",
      description: "Headphones and speakers from Lumen Audio.",
      image: images.url("audio", 2),
      link: "/categories/audio",
    }],
    ["special-offers", {
      title: "Running season",
      subtitle: "Up to 30% off shoes and jackets",
      image: images.url("running", 0),
    }],
    ["special-offers", {
      title: "New in Beauty",
      subtitle: "Serums and oils for winter skin",
      image: images.url("beauty", 1),
    }],
    ["features", { title: "Free delivery", description: "On orders over $50", icon: "truck" }],
    ["features", { title: "30-day returns", description: "No questions asked", icon: "rotate-ccw" }],
    ["features", { title: "Secure payment", description: "Cards are never stored", icon: "lock" }],
    ["features", { title: "Support", description: "Write to us any day", icon: "message-circle" }],
    ["offer-discounts", {
      title: "Home essentials",
      subtitle: "Save 15% with code HOME15",
      image: images.url("furniture", 3),
      buttonText: "Shop home",
    }],
    ["offer-discounts", {
      title: "Back to the trail",
      subtitle: "Cycling gear from $19",
      image: images.url("cycling", 2),
      buttonText: "Shop cycling",
    }],
  ];
  let created = 0;
  for (const [index, [kind, fields]] of items.entries()) {
    const id = await stableId(`content:${kind}:${index}`);
    if (await store.content.get(kind, id)) continue;
    const item: ContentItem = {
      id,
      kind,
      active: true,
      sortOrder: index,
      fields,
      createdAt: at,
      updatedAt: at,
    };
    await store.content.insert(item);
    created++;
  }
  if (!await store.content.about()) {
    const about: About = {
      description:
        "MultiShop is a small shop with a big catalog: clothing, home, electronics, sport, beauty and books.",
      address: "1 Market Street, Springfield",
      email: "hello@multishop.local",
      phone: "+1 555 0100",
    };
    await store.content.setAbout(about);
    created++;
  }
  return created;
}

/** The leaf categories' slugs, for which placeholder images are made. */
export const imageCategories = leaves.map((leaf) => slugify(leaf.name));
