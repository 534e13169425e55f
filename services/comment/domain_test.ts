/** The review rules, without a database: the rating arithmetic, plain-text input, moderation, author names. */
import assert from "node:assert/strict";
import { fieldErrors } from "@multishop/kit/validation";
import {
  anonymousAuthor,
  authorName,
  rejectionInput,
  reviewInput,
  statusAfterModeration,
  summarizeRatings,
} from "./domain.ts";

const body = (overrides: Record<string, unknown> = {}) => ({
  rating: 4,
  title: "Warm and well made",
  text: "Wore it all winter.",
  ...overrides,
});

/** The fields a body's problems name, as the 400 answer lists them. */
function invalidFields(input: unknown): string[] {
  const parsed = reviewInput.safeParse(input);
  assert.equal(parsed.success, false, `${JSON.stringify(input)} was accepted`);
  return fieldErrors(parsed.error!).map((error) => error.field);
}

Deno.test("summarizeRatings: no ratings have no average, and every rating shows 0", () => {
  assert.deepEqual(summarizeRatings({}), {
    average: null,
    count: 0,
    distribution: { "1": 0, "2": 0, "3": 0, "4": 0, "5": 0 },
  });
});

Deno.test("summarizeRatings: the mean of all ratings, rounded half up to one decimal", () => {
  const cases: [Parameters<typeof summarizeRatings>[0], number, number][] = [
    [{ 5: 1 }, 5, 1],
    [{ 4: 1, 5: 1 }, 4.5, 2],
    [{ 4: 2, 5: 1 }, 4.3, 3], // 13/3 = 4.333...
    [{ 4: 1, 5: 2 }, 4.7, 3], // 14/3 = 4.666...
    [{ 4: 3, 5: 1 }, 4.3, 4], // 17/4 = 4.25, half up
    [{ 1: 3, 2: 1 }, 1.3, 4], // 5/4 = 1.25, half up
    [{ 1: 1, 2: 1, 3: 1, 4: 1, 5: 1 }, 3, 5],
    [{ 1: 1, 5: 0 }, 1, 1],
    [{ 2: 1, 3: 1, 5: 1 }, 3.3, 3], // 10/3 = 3.333...
    [{ 1: 999_999, 5: 1 }, 1, 1_000_000], // 1.000004
    [{ 5: 999_999, 4: 1 }, 5, 1_000_000], // 4.999999
    [{ 3: 7, 4: 13 }, 3.7, 20], // 73/20 = 3.65, half up
  ];
  for (const [counts, average, count] of cases) {
    const summary = summarizeRatings(counts);
    assert.equal(summary.average, average, JSON.stringify(counts));
    assert.equal(summary.count, count, JSON.stringify(counts));
  }
});

Deno.test("summarizeRatings: the distribution counts each rating, keyed '1' to '5'", () => {
  assert.deepEqual(summarizeRatings({ 5: 3, 1: 2, 3: 1 }).distribution, {
    "1": 2,
    "2": 0,
    "3": 1,
    "4": 0,
    "5": 3,
  });
});

Deno.test("reviewInput: trims title and text, keeps the text's line breaks and tabs, and HTML as written", () => {
  const parsed = reviewInput.parse(body({
    title: "  <b>Great</b> coat  ",
    text: "\n  First line\r\n\tindented <script>alert(1)</script>\n\n",
  }));
  assert.equal(parsed.title, "<b>Great</b> coat");
  assert.equal(parsed.text, "First line\n\tindented <script>alert(1)</script>");
});

Deno.test("reviewInput: lengths count characters, so emoji count once", () => {
  assert.ok(reviewInput.safeParse(body({ title: "🧥".repeat(120) })).success);
  assert.deepEqual(invalidFields(body({ title: "🧥".repeat(121) })), ["title"]);
  assert.ok(reviewInput.safeParse(body({ text: "a".repeat(4000) })).success);
  assert.deepEqual(invalidFields(body({ text: "a".repeat(4001) })), ["text"]);
  assert.ok(reviewInput.safeParse(body({ text: `${" ".repeat(10)}${"a".repeat(4000)}  ` })).success);
  // The family emoji is joined by zero-width joiners, which are not control characters.
  assert.ok(reviewInput.safeParse(body({ text: "Bought for the 👨‍👩‍👧" })).success);
});

Deno.test("reviewInput: refuses what is not a review, naming the field", () => {
  const cases: [string, unknown, string][] = [
    ["rating 0", body({ rating: 0 }), "rating"],
    ["rating 6", body({ rating: 6 }), "rating"],
    ["rating 4.5", body({ rating: 4.5 }), "rating"],
    ["rating as a string", body({ rating: "5" }), "rating"],
    ["no rating", { title: "t", text: "x" }, "rating"],
    ["empty title", body({ title: "" }), "title"],
    ["blank title", body({ title: "   " }), "title"],
    ["title over two lines", body({ title: "one\ntwo" }), "title"],
    ["title with a tab", body({ title: "one\ttwo" }), "title"],
    ["blank text", body({ text: "\n\t \n" }), "text"],
    ["text with a NUL", body({ text: "a\u0000b" }), "text"],
    ["text with an escape", body({ text: "red \u001b[31m" }), "text"],
    ["text with a lone carriage return", body({ text: "a\rb" }), "text"],
    ["text with DEL", body({ text: "a\u007fb" }), "text"],
    ["text with a C1 control", body({ text: "a\u0085b" }), "text"],
    ["text with a lone surrogate", body({ text: "a\ud800b" }), "text"],
    ["text as an object", body({ text: { $ne: "" } }), "text"],
    ["an unknown field", body({ status: "approved" }), "status"],
    ["the author's id", body({ userId: "someone-else" }), "userId"],
  ];
  for (const [name, input, field] of cases) {
    assert.deepEqual(invalidFields(input), [field], name);
  }
});

Deno.test("rejectionInput: the reason is optional plain text of up to 500 characters", () => {
  assert.deepEqual(rejectionInput.parse({}), {});
  assert.deepEqual(rejectionInput.parse({ reason: "  Off topic.\nSee the guidelines. " }), {
    reason: "Off topic.\nSee the guidelines.",
  });
  assert.equal(rejectionInput.safeParse({ reason: "x".repeat(501) }).success, false);
  assert.equal(rejectionInput.safeParse({ reason: "" }).success, false);
  assert.equal(rejectionInput.safeParse({ reason: "ok", status: "approved" }).success, false);
});

Deno.test("statusAfterModeration: a change answers the new status; the same status changes nothing", () => {
  const pending = { status: "pending" as const, rejectionReason: null };
  const rejected = { status: "rejected" as const, rejectionReason: "off topic" };
  const approved = { status: "approved" as const, rejectionReason: null };
  assert.deepEqual(statusAfterModeration(pending, { status: "approved" }), approved);
  assert.deepEqual(statusAfterModeration(pending, { status: "rejected", reason: "off topic" }), rejected);
  assert.deepEqual(statusAfterModeration(pending, { status: "rejected", reason: null }), {
    status: "rejected",
    rejectionReason: null,
  });
  assert.deepEqual(
    statusAfterModeration(rejected, { status: "approved" }),
    approved,
    "approval clears the reason",
  );
  assert.deepEqual(statusAfterModeration(approved, { status: "rejected", reason: "spam" }), {
    status: "rejected",
    rejectionReason: "spam",
  });
  assert.equal(statusAfterModeration(approved, { status: "approved" }), undefined);
  assert.equal(statusAfterModeration(rejected, { status: "rejected", reason: "another reason" }), undefined);
});

Deno.test("authorName: the token's username, never an email or anything unprintable", () => {
  assert.equal(authorName("ada.l"), "ada.l");
  assert.equal(authorName("  ada  "), "ada");
  assert.equal(authorName("ada@example.com"), anonymousAuthor);
  assert.equal(authorName(undefined), anonymousAuthor);
  assert.equal(authorName(42), anonymousAuthor);
  assert.equal(authorName(""), anonymousAuthor);
  assert.equal(authorName("ada\nadmin"), anonymousAuthor);
  assert.equal(authorName("a".repeat(65)), anonymousAuthor);
});
