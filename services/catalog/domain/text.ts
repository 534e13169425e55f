/** Text normalisation for slugs, search and sorting. No I/O. */

/** Lower case without accents: "Crème Brûlée" -> "creme brulee", so search and sort ignore both. */
export function foldText(text: string): string {
  return text.normalize("NFKD").replace(/\p{M}+/gu, "").toLowerCase().replace(/\s+/g, " ").trim();
}

export function slugify(text: string): string {
  return foldText(text).replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 80);
}

export const slugPattern = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** A literal string for a regular expression, so user input never becomes a pattern. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
