// Customer API keys through the SDK, against a real `dream serve`: issue, verify
// and count to the limit, list, roll, revoke, a key's own rate limit.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";

import { Dream } from "../src/index.js";
import { baseUrl, newTenant } from "./server.js";

describe("customer keys", () => {
  let dream: Dream;
  let customerId: string;

  before(async () => {
    const { secretKey } = await newTenant([{ name: "starter", price: 0, limit: 3 }]);
    dream = new Dream({ secretKey, baseUrl });
    customerId = (await dream.customers.create({ externalId: "api-customer" })).id;
  });

  it("issues a ck_test_ key, verifies and counts it to the plan's limit, then revokes it", async () => {
    const issued = await dream.customerKeys.create(customerId, { name: "production" });
    assert.match(issued.secret, /^ck_test_[0-9A-Za-z]{40,}$/);
    assert.match(issued.key.id, /^ckey_/);
    assert.equal(issued.key.customerId, customerId);

    const fresh = await dream.keys.verify(issued.secret);
    assert.deepEqual([fresh.valid, fresh.code, fresh.customerId, fresh.plan], [true, "VALID", customerId, "starter"]);
    assert.equal(fresh.usage?.count, 0);

    const counted = await dream.keys.verify(issued.secret, { amount: 3 });
    assert.deepEqual([counted.valid, counted.usage?.count, counted.usage?.remaining], [true, 3, 0]);
    const refused = await dream.keys.verify(issued.secret, { amount: 1 });
    assert.deepEqual([refused.valid, refused.code], [false, "USAGE_EXCEEDED"]);

    const listed = await dream.customerKeys.list("api-customer");
    assert.deepEqual(listed.map((k) => k.id), [issued.key.id]);
    assert.ok(!JSON.stringify(listed).includes(issued.secret.slice(8)), "the key is never listed");

    const revoked = await dream.customerKeys.revoke(customerId, issued.key.id);
    assert.ok(revoked.revokedAt);
    const after = await dream.keys.verify(issued.secret);
    assert.deepEqual([after.valid, after.code], [false, "REVOKED"]);
  });

  it("rolls a key with an overlap, and answers NOT_FOUND for a made-up key", async () => {
    const issued = await dream.customerKeys.create(customerId);
    const rolled = await dream.customerKeys.roll(customerId, issued.key.id, 3600);
    assert.equal(rolled.rolled.id, issued.key.id);
    assert.ok(rolled.rolled.expiresAt, "the old key now expires");
    for (const key of [issued.secret, rolled.secret]) {
      assert.equal((await dream.keys.verify(key)).code, "VALID");
    }
    const unknown = await dream.keys.verify(`ck_test_${"x".repeat(44)}`);
    assert.deepEqual([unknown.valid, unknown.code, unknown.customerId], [false, "NOT_FOUND", null]);
  });

  it("gives a key its own rate limit", async () => {
    // A fresh customer: the plan's limit (3) leaves room for the key's rate (2).
    const fresh = (await dream.customers.create({})).id;
    const issued = await dream.customerKeys.create(fresh, { ratePerMinute: 2 });
    assert.equal(issued.key.ratePerMinute, 2);
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      codes.push((await dream.keys.verify(issued.secret, { amount: 1 })).code);
    }
    assert.deepEqual(codes, ["VALID", "VALID", "RATE_LIMITED"]);
  });
});
