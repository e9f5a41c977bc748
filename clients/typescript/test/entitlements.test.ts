// Entitlements through the SDK: flags, meters, checks and the usage history.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";

import { Dream, DreamError } from "../src/index.js";
import { baseUrl, newTenant } from "./server.js";

describe("entitlements", () => {
  let dream: Dream;

  before(async () => {
    const { secretKey } = await newTenant([
      { name: "free", price: 0, limit: 5 },
      { name: "pro", price: 29, limit: 10, flags: ["sso"], alerts: [50, 100] },
    ]);
    dream = new Dream({ secretKey, baseUrl });
  });

  it("lists every flag and the requests meter", async () => {
    await dream.usage.track("ada", { plan: "pro", amount: 3 });
    const ada = await dream.usage.entitlements("ada");
    assert.equal(ada.plan, "pro");
    assert.deepEqual(ada.flags, { sso: true });
    const requests = ada.meters["requests"];
    assert.ok(requests);
    assert.deepEqual([requests.used, requests.limit, requests.remaining], [3, 10, 7]);
    const bob = await dream.usage.entitlements("bob");
    assert.deepEqual([bob.plan, bob.flags], ["free", { sso: false }]);
  });

  it("checks a flag or a meter without consuming", async () => {
    assert.equal((await dream.usage.check("ada", { flag: "sso" })).allowed, true);
    assert.equal((await dream.usage.check("bob", { flag: "sso" })).allowed, false);
    const fits = await dream.usage.check("ada", { meter: "requests", amount: 7 });
    assert.deepEqual([fits.allowed, fits.used, fits.remaining], [true, 3, 7]);
    const over = await dream.usage.check("ada", { meter: "requests", amount: 8 });
    assert.equal(over.allowed, false);
    assert.equal((await dream.usage.get("ada")).usageCount, 3, "nothing consumed");
    await assert.rejects(
      () => dream.usage.check("ada", { meter: "exports" }),
      (err: unknown) => err instanceof DreamError && err.status === 400 && err.field === "meter",
    );
  });

  it("reads the usage history in hourly buckets", async () => {
    const history = await dream.usage.history({ granularity: "hour" });
    assert.equal(history.granularity, "hour");
    assert.equal(history.total, 3);
    assert.equal(
      history.buckets.reduce((sum, b) => sum + b.amount, 0),
      3,
    );
  });
});

describe("meters and credits", () => {
  let dream: Dream;

  before(async () => {
    const { secretKey } = await newTenant([
      {
        name: "team",
        price: 0,
        limit: 100,
        meters: {
          exports: { limit: 1, reset: "day" },
          seats: { limit: 2, reset: "never" },
        },
      },
    ]);
    dream = new Dream({ secretKey, baseUrl });
  });

  it("counts meters apart, gives seats back and spends credits after the allowance", async () => {
    const seat = await dream.usage.track("acme", { meter: "seats", amount: 2 });
    assert.deepEqual([seat.usage.meter, seat.usage.count], ["seats", 2]);
    const freed = await dream.usage.track("acme", { meter: "seats", amount: -1 });
    assert.equal(freed.usage.count, 1);

    await dream.usage.track("acme", { meter: "exports" });
    await assert.rejects(
      () => dream.usage.track("acme", { meter: "exports" }),
      (err: unknown) => err instanceof DreamError && err.status === 429,
    );
    const granted = await dream.usage.grantCredits(
      "acme",
      { meter: "exports", amount: 3, reason: "bundle" },
      { idempotencyKey: "bundle-1" },
    );
    assert.equal(granted.balance, 3);
    const again = await dream.usage.grantCredits(
      "acme",
      { meter: "exports", amount: 3, reason: "bundle" },
      { idempotencyKey: "bundle-1" },
    );
    assert.equal(again.balance, 3, "the same idempotency key grants once");
    const paid = await dream.usage.track("acme", { meter: "exports", amount: 2 });
    assert.equal(paid.usage.creditsSpent, 2);
    const e = await dream.usage.entitlements("acme");
    assert.deepEqual(
      [e.meters["exports"]?.credits, e.meters["exports"]?.used, e.meters["seats"]?.reset],
      [1, 3, "never"],
    );
    await assert.rejects(
      () => dream.usage.track("acme", { meter: "uploads" }),
      (err: unknown) => err instanceof DreamError && err.status === 400 && err.field === "/meter",
    );
  });
});
