// The server under test and tenants on it. scripts/clients-test starts
// `dream serve` and sets DREAM_URL and DREAM_ADMIN_TOKEN.
import createClient from "openapi-fetch";

import type { components, paths } from "../src/index.js";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the tests through scripts/clients-test, or export it`);
  }
  return value;
}

export const baseUrl = required("DREAM_URL");
const adminToken = required("DREAM_ADMIN_TOKEN");

/** A typed client of the admin endpoints (`Authorization: Bearer $DREAM_ADMIN_TOKEN`). */
export function adminClient() {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${adminToken}` } });
}

type TierInput = components["schemas"]["TierInput"];

/** The seed tiers: free (2 calls) and pro (10). */
const SEED_TIERS: TierInput[] = [
  { name: "free", price: 0, limit: 2 },
  { name: "pro", price: 29, limit: 10 },
];

/** A new platform with `tiers` (default: the seed tiers), through POST /create-products. */
export async function newTenant(
  tiers: TierInput[] = SEED_TIERS,
): Promise<{ platformId: string; secretKey: string; publishableKey: string }> {
  const { data, error, response } = await adminClient().POST("/create-products", {
    body: { mode: "test", tiers },
  });
  if (!data?.secretKey) {
    throw new Error(`POST /create-products: HTTP ${response.status} ${JSON.stringify(error)}`);
  }
  return { platformId: data.platformId, secretKey: data.secretKey, publishableKey: data.publishableKey };
}
