// Billing through the SDK, against a real `dream serve` whose Stripe is the local
// stand-in (scripts/clients-test starts both): connect a platform in direct mode,
// sync its tiers, subscription checkout, the billing portal, and a one-off cart
// that sells the last ticket.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";

import { Dream, DreamError, type Customer, type Product } from "../src/index.js";
import { adminClient, baseUrl, newTenant } from "./server.js";

/** The direct-mode key the Stripe stand-in accepts (account `acct_direct1`). */
const DIRECT_KEY = "rk_test_direct_standin_00000000000000000000000000";

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

/** The product named `name` in `products`. */
function product(products: Product[], name: string): Product {
  const found = products.find((p) => p.name === name);
  assert.ok(found, `no product "${name}" in ${JSON.stringify(products.map((p) => p.name))}`);
  return found;
}

describe("billing", () => {
  let dream: Dream;
  let platformId: string;
  let customer: Customer;
  let ticketPriceId: string;

  before(async () => {
    const tenant = await newTenant([
      { name: "free", price: 0, limit: 2 },
      { name: "pro", price: 29, limit: 10 },
      { name: "ticket", type: "one_time", price: 5, inventory: 1 },
    ]);
    platformId = tenant.platformId;
    dream = new Dream({ secretKey: tenant.secretKey, baseUrl });
    customer = await dream.customers.create({ email: "payer@example.com", plan: "free" });
  });

  it("refuses checkout with stripe_not_connected before Stripe is connected", async () => {
    const err = await rejection(() => dream.billing.checkout(customer.id, { tier: "pro" }));
    assert.equal(err.status, 409);
    assert.equal(err.code, "stripe_not_connected");
    assert.match(err.requestId ?? "", /^req_/);
  });

  it("lists the ticket without a price before Stripe is connected", async () => {
    const products = await dream.billing.products();
    assert.deepEqual(
      products.map((p) => p.name),
      ["ticket"],
      "only one-off products are listed",
    );
    const ticket = product(products, "ticket");
    assert.equal(ticket.priceId, null);
    assert.equal(ticket.productId, null);
    assert.deepEqual(
      [ticket.price, ticket.unitAmount, ticket.currency, ticket.inventory, ticket.available, ticket.soldOut],
      [5, 500, "usd", 1, 1, false],
    );
  });

  it("connects the platform in direct mode without ever returning the key", async () => {
    const { data, error, response } = await adminClient().PUT("/admin/platforms/{platform_id}/stripe", {
      params: { path: { platform_id: platformId } },
      body: { mode: "test", secretKey: DIRECT_KEY },
    });
    assert.ok(data, `PUT /admin/platforms/${platformId}/stripe: HTTP ${response.status} ${JSON.stringify(error)}`);
    assert.equal(data.platformId, platformId);
    assert.equal(data.mode, "test");
    assert.equal(data.connected, true);
    assert.equal(data.type, "direct");
    assert.ok(!JSON.stringify(data).includes(DIRECT_KEY), "the response contains the key");
    assert.ok(!JSON.stringify(data).includes("rk_test_"), "the response contains a key");

    const status = await adminClient().GET("/admin/platforms/{platform_id}/stripe", {
      params: { path: { platform_id: platformId }, query: { mode: "test" } },
    });
    assert.ok(status.data, `GET /admin/platforms/${platformId}/stripe: HTTP ${status.response.status}`);
    assert.deepEqual([status.data.connected, status.data.type], [true, "direct"]);
    assert.ok(!JSON.stringify(status.data).includes(DIRECT_KEY), "the status contains the key");
  });

  it("syncs the tiers to Stripe prices (none for the free tier)", async () => {
    const { data, error, response } = await adminClient().POST("/admin/platforms/{platform_id}/sync", {
      params: { path: { platform_id: platformId }, query: { mode: "test" } },
    });
    assert.ok(data, `POST /admin/platforms/${platformId}/sync: HTTP ${response.status} ${JSON.stringify(error)}`);
    const priceOf = (tier: string) => {
      const entry = data.priceIds.find((p) => p.tier === tier);
      assert.ok(entry, `no priceIds entry for "${tier}": ${JSON.stringify(data.priceIds)}`);
      return entry.priceId;
    };
    assert.equal(priceOf("free"), null);
    assert.match(priceOf("pro") ?? "", /^price_/);
    assert.match(priceOf("ticket") ?? "", /^price_/);
  });

  it("opens a subscription checkout for pro", async () => {
    const session = await dream.billing.checkout(customer.id, {
      tier: "pro",
      successUrl: "https://app.example/ok",
      cancelUrl: "https://app.example/no",
    });
    assert.ok(session.url.startsWith("https://checkout.stripe.com/"), session.url);
    assert.match(session.sessionId, /^cs_/);
    assert.ok(!Number.isNaN(Date.parse(session.expiresAt)), `expiresAt ${session.expiresAt}`);
  });

  it("refuses checkout for a free tier with not_purchasable", async () => {
    await dream.customers.create({ externalId: "billing-pro-user", plan: "pro" });
    const err = await rejection(() => dream.billing.checkout("billing-pro-user", { tier: "free" }));
    assert.equal(err.status, 409);
    assert.equal(err.code, "not_purchasable");
  });

  it("opens the billing portal", async () => {
    const portal = await dream.billing.portal(customer.id);
    assert.ok(portal.url.startsWith("https://billing.stripe.com/"), portal.url);
    const withReturn = await dream.billing.portal(customer.id, { returnUrl: "https://app.example/account" });
    assert.ok(withReturn.url.startsWith("https://billing.stripe.com/"), withReturn.url);
  });

  it("lists the ticket with its price and stock once synced", async () => {
    const ticket = product(await dream.billing.products(), "ticket");
    assert.match(ticket.priceId ?? "", /^price_/);
    assert.match(ticket.productId ?? "", /^prod_/);
    assert.deepEqual([ticket.inventory, ticket.sold, ticket.reserved, ticket.available, ticket.soldOut], [1, 0, 0, 1, false]);
    ticketPriceId = ticket.priceId ?? "";
  });

  it("checks out a cart that holds the last ticket", async () => {
    const checkout = await dream.billing.cart({
      items: [{ priceId: ticketPriceId, quantity: 1 }],
      email: "buyer@example.com",
    });
    assert.ok(checkout.url.startsWith("https://checkout.stripe.com/"), checkout.url);
    assert.match(checkout.sessionId, /^cs_/);
    assert.match(checkout.reservationId, /^res_/);
    assert.ok(Date.parse(checkout.reservedUntil) >= Date.parse(checkout.expiresAt), "held until the session expires");

    const ticket = product(await dream.billing.products(), "ticket");
    assert.deepEqual([ticket.reserved, ticket.available, ticket.soldOut], [1, 0, true]);
  });

  it("refuses a second cart with sold_out, naming the product", async () => {
    const err = await rejection(() =>
      dream.billing.cart({ items: [{ priceId: ticketPriceId, quantity: 1 }] }, { userId: customer.id }),
    );
    assert.equal(err.status, 409);
    assert.equal(err.code, "sold_out");
    assert.equal(err.product, "ticket");
    assert.equal(err.available, 0);
    const ticket = product(await dream.billing.products(), "ticket");
    assert.equal(ticket.reserved, 1, "a refused cart holds nothing");
  });

  it("refuses a cart line whose price is not a product on offer", async () => {
    const err = await rejection(() => dream.billing.cart({ items: [{ priceId: "price_unknown", quantity: 1 }] }));
    assert.equal(err.status, 400);
    assert.equal(err.code, "invalid_request");
    assert.equal(err.field, "/items/0/priceId");
  });
});
