// The server under test and tenants on it. scripts/clients-test starts
// `dream serve` and sets DREAM_URL and DREAM_ADMIN_TOKEN.
import createClient from "openapi-fetch";

import type { paths } from "../src/index.js";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the tests through scripts/clients-test, or export it`);
  }
  return value;
}

export const baseUrl = required("DREAM_URL");
const adminToken = required("DREAM_ADMIN_TOKEN");

/** A new platform with the seed tiers (free: 2 calls, pro: 10), through POST /create-products. */
export async function newTenant(): Promise<{ platformId: string; secretKey: string; publishableKey: string }> {
  const admin = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${adminToken}` } });
  const { data, error, response } = await admin.POST("/create-products", {
    body: {
      mode: "test",
      tiers: [
        { name: "free", price: 0, limit: 2 },
        { name: "pro", price: 29, limit: 10 },
      ],
    },
  });
  if (!data?.secretKey) {
    throw new Error(`POST /create-products: HTTP ${response.status} ${JSON.stringify(error)}`);
  }
  return { platformId: data.platformId, secretKey: data.secretKey, publishableKey: data.publishableKey };
}
