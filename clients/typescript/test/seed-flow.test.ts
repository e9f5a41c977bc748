// The seeds' tested flow through the SDK, against a real `dream serve`.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";

import { Dream, DreamError, type Customer } from "../src/index.js";
import { baseUrl, newTenant } from "./server.js";

/** Runs `call`, which must fail with a DreamError; returns it. */
async function rejection(call: () => Promise<unknown>): Promise<DreamError> {
  try {
    await call();
  } catch (err) {
    assert.ok(err instanceof DreamError, `expected a DreamError, got ${String(err)}`);
    return err;
  }
  assert.fail("the call succeeded, expected a DreamError");
}

describe("seed flow", () => {
  let dream: Dream;
  let customer: Customer;

  before(async () => {
    const { secretKey } = await newTenant();
    dream = new Dream({ secretKey, baseUrl });
  });

  it("creates a customer on the free plan", async () => {
    customer = await dream.customers.create({
      email: "sharon@example.com",
      firstName: "Sharon",
      lastName: "Sheffield",
      password: "UniquePass123xyz",
      plan: "free",
    });
    assert.match(customer.id, /^usr_/);
    assert.equal(customer.plan, "free");
    assert.equal(customer.email, "sharon@example.com");
    assert.equal(customer.hasPassword, true);
  });

  it("starts at 0 of 2", async () => {
    const usage = await dream.usage.get(customer.id, { plan: "free" });
    assert.equal(usage.customerId, customer.id);
    assert.equal(usage.usageCount, 0);
    assert.equal(usage.limit, 2);
    assert.equal(usage.remaining, 2);
    assert.equal(usage.plan, "free");
  });

  it("counts two calls", async () => {
    const first = await dream.usage.track(customer.id, { plan: "free" });
    assert.deepEqual([first.success, first.plan, first.usage.count, first.usage.limit, first.usage.remaining], [true, "free", 1, 2, 1]);
    const second = await dream.usage.track(customer.id);
    assert.deepEqual([second.usage.count, second.usage.limit, second.usage.remaining], [2, 2, 0]);
  });

  it("refuses the third call with a typed usage_limit_reached error", async () => {
    const err = await rejection(() => dream.usage.track(customer.id));
    assert.equal(err.status, 429);
    assert.equal(err.code, "usage_limit_reached");
    assert.equal(err.error, "Tier limit reached");
    assert.equal(err.message, "Please upgrade");
    assert.equal(err.plan, "free");
    assert.equal(err.limit, 2);
    assert.equal(err.used, 2);
    assert.ok(err.periodEnd && !Number.isNaN(Date.parse(err.periodEnd)), `periodEnd ${err.periodEnd}`);
    assert.ok((err.retryAfter ?? 0) > 0, `retryAfter ${err.retryAfter}`);
    assert.match(err.requestId ?? "", /^req_/);
    const usage = await dream.usage.get(customer.id);
    assert.equal(usage.usageCount, 2, "a refused call counts nothing");
  });

  it("upgrades to pro: the new limit applies at once and the count is kept", async () => {
    const upgraded = await dream.customers.update(customer.id, { plan: "pro" });
    assert.equal(upgraded.plan, "pro");
    const tracked = await dream.usage.track(customer.id);
    assert.equal(tracked.plan, "pro");
    assert.equal(tracked.usage.count, 3);
    assert.equal(tracked.usage.limit, 10);
    assert.equal(tracked.usage.remaining, 7);
  });

  it("hides the customer from another tenant (404 not_found)", async () => {
    const other = new Dream({ secretKey: (await newTenant()).secretKey, baseUrl });
    const err = await rejection(() => other.customers.get(customer.id));
    assert.equal(err.status, 404);
    assert.equal(err.code, "not_found");
    const page = await other.customers.list();
    assert.ok(!page.data.some((c) => c.id === customer.id));
    // Still there for its own tenant.
    assert.equal((await dream.customers.get(customer.id)).id, customer.id);
  });
});

describe("the rest of the SDK", () => {
  let dream: Dream;

  before(async () => {
    dream = new Dream({ secretKey: (await newTenant()).secretKey, baseUrl });
  });

  it("lists tiers", async () => {
    const tiers = await dream.tiers.list();
    assert.deepEqual(
      tiers.map((t) => [t.name, t.price, t.unitAmount, t.limit, t.type]),
      [
        ["free", 0, 0, 2, "recurring"],
        ["pro", 29, 2900, 10, "recurring"],
      ],
    );
  });

  it("gets, lists, pages and deletes customers; uses external ids", async () => {
    const a = await dream.customers.create({ externalId: "ext-a", plan: "free" });
    const b = await dream.customers.create({ externalId: "ext-b" });
    assert.equal(b.plan, "free", "default plan");
    assert.equal((await dream.customers.get("ext-a")).id, a.id);
    const first = await dream.customers.list({ limit: 1 });
    assert.equal(first.data.length, 1);
    assert.equal(first.hasMore, true);
    const firstCustomer = first.data[0];
    assert.ok(firstCustomer);
    const second = await dream.customers.list({ limit: 1, startingAfter: firstCustomer.id });
    assert.equal(second.data.length, 1);
    assert.deepEqual(new Set([firstCustomer.id, second.data[0]?.id]), new Set([a.id, b.id]));
    const cleared = await dream.customers.update("ext-b", { externalId: null, metadata: { team: "blue" } });
    assert.equal(cleared.externalId, undefined);
    assert.deepEqual(cleared.metadata, { team: "blue" });
    const deleted = await dream.customers.delete(a.id);
    assert.deepEqual(deleted, { success: true, id: a.id, deleted: true });
    assert.equal((await rejection(() => dream.customers.get(a.id))).code, "not_found");
  });

  it("tracks an amount, creates unknown users on first sight, and honours idempotency keys", async () => {
    const once = await dream.usage.track("new-user", { plan: "pro", amount: 3, idempotencyKey: "k-1" });
    assert.deepEqual([once.plan, once.usage.count, once.usage.limit], ["pro", 3, 10]);
    const replay = await dream.usage.track("new-user", { plan: "pro", amount: 3, idempotencyKey: "k-1" });
    assert.deepEqual(replay, once, "replayed, not counted again");
    assert.equal((await dream.usage.get("new-user")).usageCount, 3);
    const mismatch = await rejection(() =>
      dream.usage.track("new-user", { plan: "pro", amount: 4, idempotencyKey: "k-1" }),
    );
    assert.deepEqual([mismatch.status, mismatch.code], [422, "idempotency_key_mismatch"]);
    const tooMuch = await rejection(() => dream.usage.track("new-user", { amount: 8 }));
    assert.deepEqual([tooMuch.status, tooMuch.code, tooMuch.limit, tooMuch.used], [429, "usage_limit_reached", 10, 3]);
  });

  it("names the bad field of an invalid request", async () => {
    const err = await rejection(() => dream.customers.create({ plan: "gold" }));
    assert.equal(err.status, 400);
    assert.equal(err.code, "invalid_request");
    assert.equal(err.field, "/plan");
  });

  it("reads the dashboard, the events and the CSV export", async () => {
    const customer = await dream.customers.create({ email: "dash@example.com" });
    await dream.usage.track(customer.id);
    const dashboard = await dream.dashboard.get();
    assert.ok(dashboard.metrics.totalCustomers >= 1);
    assert.ok(dashboard.metrics.totalUsage >= 1);
    assert.ok(dashboard.customers.some((c) => c.customer.id === customer.id && c.usageCount === 1));
    const events = await dream.events.list({ limit: 100 });
    assert.ok(events.data.some((e) => e.type === "customer.created" && e.customerId === customer.id));
    const csv = await dream.dashboard.exportCustomersCsv();
    assert.match(csv, /^id,externalId,email,/);
    assert.ok(csv.includes(`${customer.id},,dash@example.com,`), csv);
  });

  it("refuses a bad key with 401 invalid_api_key", async () => {
    const wrong = new Dream({ secretKey: "sk_test_not_a_real_key", baseUrl });
    const err = await rejection(() => wrong.tiers.list());
    assert.deepEqual([err.status, err.code], [401, "invalid_api_key"]);
  });
});
