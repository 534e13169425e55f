/** One suite, two stores: what the basket relies on holds on Redis and in process alike. */
import assert from "node:assert/strict";
import { basket, basketStoreTargets, line } from "../test_support.ts";
import type { Basket, BasketChange } from "./types.ts";

const id = () => crypto.randomUUID();
const sorted = (values: string[]) => [...values].sort();

/** Adds one of `productId` to the basket, creating the basket or the line as needed. */
const addOne = (userId: string, productId: string): BasketChange => (current) => {
  const next = current ?? basket(userId);
  const existing = next.lines.find((l) => l.productId === productId);
  if (existing) existing.quantity += 1;
  else next.lines.push(line(productId));
  return { ...next, updatedAt: new Date().toISOString() };
};

const removeLine = (productId: string): BasketChange => (current) =>
  current && { ...current, lines: current.lines.filter((l) => l.productId !== productId) };

for (const target of await basketStoreTargets()) {
  Deno.test({ name: `basket store contract: ${target.name}`, ignore: Boolean(target.skip) }, async (t) => {
    const { store, close } = await target.open({ ttlSeconds: 3600 });
    try {
      await t.step("a missing basket reads as undefined", async () => {
        assert.equal(await store.get(id()), undefined);
      });

      await t.step("update creates the basket, answers it and stores it", async () => {
        const userId = id();
        const seen: (Basket | undefined)[] = [];
        const wanted = basket(userId, [line("p1", 2), line("p2", 1, { image: "https://img/p2.png" })]);
        const answered = await store.update(userId, (current) => {
          seen.push(current);
          return wanted;
        });
        assert.deepEqual(seen, [undefined]);
        assert.deepEqual(answered, wanted);
        assert.deepEqual(await store.get(userId), wanted);

        const changed = await store.update(userId, (current) => {
          assert.deepEqual(current, wanted);
          return { ...current!, couponCode: "SPRING", lines: [line("p2", 5)] };
        });
        assert.deepEqual(changed, { ...wanted, couponCode: "SPRING", lines: [line("p2", 5)] });
        assert.deepEqual(await store.get(userId), changed);
      });

      await t.step("a change that answers undefined leaves the store as it was", async () => {
        const userId = id();
        assert.equal(await store.update(userId, () => undefined), undefined);
        assert.equal(await store.get(userId), undefined);

        const stored = await store.update(userId, addOne(userId, "p1"));
        assert.deepEqual(await store.update(userId, () => undefined), stored);
        assert.deepEqual(await store.get(userId), stored);
      });

      await t.step("what a change throws reaches the caller and nothing is stored", async () => {
        const boom = new Error("boom");
        const fresh = id();
        await assert.rejects(
          store.update(fresh, () => {
            throw boom;
          }),
          (error) => error === boom,
        );
        assert.equal(await store.get(fresh), undefined);

        const userId = id();
        const stored = await store.update(userId, addOne(userId, "p1"));
        await assert.rejects(
          store.update(userId, (current) => {
            current!.lines = [];
            throw boom;
          }),
          (error) => error === boom,
        );
        assert.deepEqual(await store.get(userId), stored);
      });

      await t.step("25 concurrent updates of one basket: none is lost", async () => {
        const userId = id();
        const products = Array.from({ length: 25 }, (_, i) => `product-${i}`);
        await Promise.all(products.map((productId) => store.update(userId, addOne(userId, productId))));
        const stored = await store.get(userId);
        assert.deepEqual(sorted(stored!.lines.map((l) => l.productId)), sorted(products));
        for (const productId of [products[0], products[24]]) {
          assert.ok((await store.basketsWithProduct(productId)).includes(userId));
        }

        const other = id();
        await Promise.all(Array.from({ length: 25 }, () => store.update(other, addOne(other, "p1"))));
        assert.deepEqual((await store.get(other))!.lines.map((l) => l.quantity), [25]);
      });

      await t.step("two users' baskets are independent", async () => {
        const [ann, bob] = [id(), id()];
        await store.update(ann, addOne(ann, "p1"));
        const bobs = await store.update(bob, addOne(bob, "p2"));
        await store.update(ann, addOne(ann, "p1"));
        assert.deepEqual(await store.get(bob), bobs);
        assert.equal(await store.delete(ann), true);
        assert.deepEqual(await store.get(bob), bobs);
      });

      await t.step("basketsWithProduct follows adds, removals and deletes", async () => {
        const [ann, bob] = [id(), id()];
        const [shirt, scarf] = [id(), id()];
        assert.deepEqual(await store.basketsWithProduct(shirt), []);
        await store.update(ann, addOne(ann, shirt));
        await store.update(ann, addOne(ann, scarf));
        await store.update(bob, addOne(bob, shirt));
        assert.deepEqual(sorted(await store.basketsWithProduct(shirt)), sorted([ann, bob]));
        assert.deepEqual(await store.basketsWithProduct(scarf), [ann]);

        await store.update(ann, removeLine(shirt));
        assert.deepEqual(await store.basketsWithProduct(shirt), [bob]);
        assert.deepEqual(await store.basketsWithProduct(scarf), [ann]);

        await store.update(bob, (current) => ({ ...current!, lines: [line(scarf)] }));
        assert.deepEqual(await store.basketsWithProduct(shirt), []);
        assert.deepEqual(sorted(await store.basketsWithProduct(scarf)), sorted([ann, bob]));

        await store.delete(ann);
        assert.deepEqual(await store.basketsWithProduct(scarf), [bob]);
      });

      await t.step("delete answers true, then false", async () => {
        const userId = id();
        await store.update(userId, addOne(userId, "p1"));
        assert.equal(await store.delete(userId), true);
        assert.equal(await store.get(userId), undefined);
        assert.equal(await store.delete(userId), false);
      });

      await t.step("stored values are copies", async () => {
        const userId = id();
        const given = basket(userId, [line("p1")]);
        const answered = await store.update(userId, () => given);
        const expected = structuredClone(given);
        given.lines[0].quantity = 9;
        answered!.lines[0].quantity = 8;
        const read = await store.get(userId);
        assert.deepEqual(read, expected);
        const extra = id();
        read!.lines.push(line(extra));
        read!.couponCode = "MINE";
        assert.deepEqual(await store.get(userId), expected);
        assert.deepEqual(await store.basketsWithProduct(extra), []);
      });
    } finally {
      await close();
    }
  });

  Deno.test({
    name: `basket store contract: ${target.name}: a basket expires ttlSeconds after its last change`,
    ignore: Boolean(target.skip),
  }, async () => {
    const { store, elapse, close } = await target.open({ ttlSeconds: 2 });
    try {
      const [ann, bob] = [id(), id()];
      const productId = id();
      await store.update(ann, addOne(ann, productId));
      await store.update(bob, addOne(bob, productId));
      // On Redis time really passes, and a busy machine only makes more of it pass: so what must still
      // be there is checked with time to spare, while what must be gone needs none.
      await elapse(1.2);
      // This change refreshes Ann's expiry; Bob's basket is left to expire.
      await store.update(ann, addOne(ann, productId));
      await elapse(1.0);
      // 2.2 s after the first changes, 1 s after Ann's last.
      assert.deepEqual((await store.get(ann))?.lines.map((l) => l.quantity), [2]);
      assert.equal(await store.get(bob), undefined);
      assert.deepEqual(await store.basketsWithProduct(productId), [ann]);
      const seen: (Basket | undefined)[] = [];
      await store.update(bob, (current) => {
        seen.push(current);
        return undefined;
      });
      assert.deepEqual(seen, [undefined]);
      assert.equal(await store.delete(bob), false);
      // A new basket without the product does not list its user for it again.
      await store.update(bob, addOne(bob, id()));
      assert.deepEqual(await store.basketsWithProduct(productId), [ann]);

      await elapse(1.2);
      assert.equal(await store.get(ann), undefined);
      assert.deepEqual(await store.basketsWithProduct(productId), []);
    } finally {
      await close();
    }
  });
}
