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
