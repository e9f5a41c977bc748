// Signing customers in through the SDK (`dream.auth`), against a real `dream serve`.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";

import { Dream, DreamError, type Tokens } from "../src/index.js";
import { baseUrl, newTenant } from "./server.js";

async function rejection(call: () => Promise<unknown>): Promise<DreamError> {
  try {
    await call();
  } catch (err) {
    assert.ok(err instanceof DreamError, `expected a DreamError, got ${String(err)}`);
    return err;
  }
  assert.fail("the call succeeded, expected a DreamError");
}

/** The JWT's header, decoded (not verified: PyJWT does that in the server's API tests). */
function header(token: string): { alg: string; kid: string } {
  return JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8"));
}

describe("auth", () => {
  let server: Dream;
  let browser: Dream;
  const email = `ada.${Date.now()}@example.com`;
  const password = "correct horse battery";

  before(async () => {
    const { secretKey, publishableKey } = await newTenant();
    server = new Dream({ secretKey, baseUrl });
    browser = new Dream({ publishableKey, baseUrl });
    await server.customers.create({ email, password, plan: "pro", externalId: "ext-ada" });
  });

  it("logs in, refreshes, detects reuse and logs out", async () => {
    const tokens: Tokens = await browser.auth.login(email, password);
    assert.match(tokens.refreshToken, /^rt_/);
    assert.equal(tokens.tokenType, "Bearer");
    assert.equal(tokens.plan, "pro");
    const jwks = await browser.auth.jwks();
    assert.equal(header(tokens.accessToken).alg, "EdDSA");
    assert.ok(jwks.keys.some((k) => k.kid === header(tokens.accessToken).kid));

    const next = await browser.auth.refresh(tokens.refreshToken);
    assert.notEqual(next.refreshToken, tokens.refreshToken);
    const reused = await rejection(() => browser.auth.refresh(tokens.refreshToken));
    assert.equal(reused.status, 401);
    assert.equal(reused.code, "invalid_refresh_token");
    const revoked = await rejection(() => browser.auth.refresh(next.refreshToken));
    assert.equal(revoked.code, "invalid_refresh_token");

    const again = await browser.auth.login(email, password);
    await browser.auth.logout(again.refreshToken);
    assert.equal((await rejection(() => browser.auth.refresh(again.refreshToken))).code, "invalid_refresh_token");
  });

  it("answers a wrong password with invalid_credentials", async () => {
    const err = await rejection(() => browser.auth.login(email, "wrong password"));
    assert.equal(err.status, 401);
    assert.equal(err.code, "invalid_credentials");
  });

  it("ends every sign-in of a customer with the secret key", async () => {
    const one = await browser.auth.login(email, password);
    const customer = await server.customers.get("ext-ada");
    const result = await server.customers.revokeSessions(customer.id);
    assert.ok(result.revoked >= 1);
    assert.equal((await rejection(() => browser.auth.refresh(one.refreshToken))).code, "invalid_refresh_token");
  });

  it("needs a publishable key for auth", () => {
    assert.throws(() => server.auth.login(email, password), TypeError);
  });
});
