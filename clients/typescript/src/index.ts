/**
 * TypeScript SDK for the dream HTTP API.
 *
 * The types come from `openapi/openapi.json` (`npm run generate` writes `schema.ts`);
 * this file is the thin hand-written layer on top of openapi-fetch: one method per
 * operation, results unwrapped, failures thrown as {@link DreamError}.
 */
import createClient, { type Client } from "openapi-fetch";

import { DreamError } from "./error.js";
import type { components, paths } from "./schema.js";

export { DreamError } from "./error.js";
export type { ErrorBody, ErrorCode } from "./error.js";
export type { components, operations, paths } from "./schema.js";

type Schemas = components["schemas"];

/** An end customer. */
export type Customer = Schemas["CustomerDto"];
/** Fields of a new customer. */
export type CreateCustomerParams = Schemas["CreateCustomerRequest"];
/** Changes to a customer: absent fields stay, `null` clears a nullable one. */
export type UpdateCustomerParams = Schemas["UpdateCustomerRequest"];
/** A page of customers. */
export type CustomerList = Schemas["CustomerList"];
/** A deleted customer's id. */
export type DeletedCustomer = Schemas["DeletedCustomer"];
/** The result of a counted call. */
export type TrackResult = Schemas["TrackResponse"];
/** A customer's usage in the current period. */
export type UsageReport = Schemas["UsageResponse"];
/** What a customer's plan allows: flags and meters. */
export type Entitlements = Schemas["EntitlementsResponse"];
/** A grant of credits: the balance after it, and whether it was a replay. */
export type CreditsGranted = Schemas["CreditsGrantedResponse"];
/** The answer of {@link Usage.check}. */
export type CheckResult = Schemas["CheckResponse"];
/** Usage per hour or day over a range. */
export type UsageHistory = Schemas["UsageHistoryResponse"];
/** A pricing tier. */
export type Tier = Schemas["TierDto"];
/** The dashboard snapshot. */
export type Dashboard = Schemas["DashboardResponse"];
/** An entry of the event log. */
export type DreamEvent = Schemas["EventDto"];
/** A page of events. */
export type EventList = Schemas["EventList"];
/** What to subscribe a customer to in {@link Billing.checkout}. */
export type CheckoutParams = Schemas["CreateCheckoutRequest"];
/** A hosted Stripe Checkout session: send the buyer to `url`. */
export type CheckoutSession = Schemas["CheckoutResponse"];
/** Options of the billing portal in {@link Billing.portal}. */
export type PortalParams = Schemas["PortalRequest"];
/** A Stripe billing portal session: send the customer to `url`. */
export type PortalSession = Schemas["PortalResponse"];
/** A one-off product on offer, with its stock. */
export type Product = Schemas["ProductDto"];
/** A cart of one-off products for {@link Billing.cart}. */
export type CartParams = Schemas["CartCheckoutRequest"];
/** One line of a cart: a product's `priceId` and a quantity. */
export type CartItem = Schemas["CartItemInput"];
/** A cart checkout: the Stripe session and the reservation holding its units. */
export type CartCheckout = Schemas["CartCheckoutResponse"];

/** A customer's API key record (never the key itself). */
export type CustomerKey = Schemas["CustomerKeyDto"];
/** A newly issued customer key: `secret` is shown this once. */
export type IssuedCustomerKey = Schemas["IssuedCustomerKeyDto"];
/** A rolled customer key: the new key (`secret` shown once) and the old record. */
export type RolledCustomerKey = Schemas["RolledCustomerKeyDto"];
/** Parameters of {@link CustomerKeys.create}. */
export type CreateCustomerKeyParams = Schemas["CreateCustomerKeyRequest"];
/** The verdict of {@link Keys.verify}: branch on `valid`, read `code` for why. */
export type KeyVerification = Schemas["VerifyKeyResponse"];
/** An end customer's access and refresh tokens, from {@link Auth.login} or {@link Auth.refresh}. */
export type Tokens = Schemas["TokenResponse"];
/** The public keys that verify access tokens (a JWK set). */
export type JwkSet = Schemas["JwkSet"];
/** How many sign-ins {@link Customers.revokeSessions} ended. */
export type RevokedSessions = Schemas["RevokedSessions"];

/** Options of the {@link Dream} client. */
export interface DreamOptions {
  /** A secret key, `sk_test_…` or `sk_live_…`. Keep it on your server. */
  secretKey?: string;
  /**
   * The app's publishable key, `pk_test_…` or `pk_live_…`, for {@link Dream.auth}
   * (signing your customers in from a browser). Safe to ship to browsers.
   */
  publishableKey?: string;
  /** Where `dream serve` listens. Default `http://127.0.0.1:8787`. */
  baseUrl?: string;
  /** A `fetch` implementation (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
}

/** Cursor pagination: `limit` 1–100 (default 20), `startingAfter` the last id of the previous page. */
export interface PageParams {
  limit?: number;
  startingAfter?: string;
}

/** Per-request options of a POST. */
export interface PostOptions {
  /** Makes a retry safe: the same key and request get the same response, counted once. */
  idempotencyKey?: string;
}

/** Options of {@link Usage.track}. */
export interface TrackOptions extends PostOptions {
  /** Plan for a customer seen for the first time; ignored for known customers. */
  plan?: string;
  /**
   * Units to count (default 1). All or nothing: the plan's allowance first, then the
   * customer's credits for the meter. Negative on a meter that never resets gives
   * units back (a seat freed).
   */
  amount?: number;
  /** The meter to count (default `requests`): one your tiers define in `meters`. */
  meter?: string;
}

/** Options of {@link Usage.get}. */
export interface UsageOptions {
  /** Plan for a customer seen for the first time; ignored for known customers. */
  plan?: string;
}

/** What {@link Usage.check} asks: a flag, or an amount of a meter. */
export type CheckParams = { flag: string } | { meter: string; amount?: number };

/** Options of {@link Usage.history}. */
export interface UsageHistoryParams {
  /** The meter (default `requests`). */
  meter?: string;
  /** Start: an RFC 3339 time or a `YYYY-MM-DD` date (default a day or 30 days before `to`). */
  from?: string;
  /** End, exclusive (default now). */
  to?: string;
  /** Bucket width (default `day`). */
  granularity?: "hour" | "day";
}

/** Options of {@link Billing.cart}. */
export interface CartOptions extends PostOptions {
  /** The buyer as one of your customers (our id or your external id); absent for a guest. */
  userId?: string;
}

type ApiClient = Client<paths>;

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a successful call, or a {@link DreamError}. */
async function unwrap<T>(call: Promise<Outcome<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok || data === undefined) {
    throw DreamError.fromResponse(response, error);
  }
  return data;
}

function idempotency(options?: PostOptions): { "Idempotency-Key"?: string } {
  return options?.idempotencyKey === undefined ? {} : { "Idempotency-Key": options.idempotencyKey };
}

/** End customers: `/api/customers`. */
export class Customers {
  constructor(private readonly api: ApiClient) {}

  /** Creates a customer (on `plan`, else your default plan). */
  async create(params: CreateCustomerParams, options?: PostOptions): Promise<Customer> {
    const result = await unwrap(
      this.api.POST("/api/customers", { body: params, params: { header: idempotency(options) } }),
    );
    return result.customer;
  }

  /** A customer by our id (`usr_…`) or your external id. */
  async get(id: string): Promise<Customer> {
    const result = await unwrap(this.api.GET("/api/customers/{id}", { params: { path: { id } } }));
    return result.customer;
  }

  /** Changes a customer; a new `plan` applies to limits at once. */
  async update(id: string, changes: UpdateCustomerParams): Promise<Customer> {
    const result = await unwrap(
      this.api.PATCH("/api/customers/{id}", { params: { path: { id } }, body: changes }),
    );
    return result.customer;
  }

  /** A page of customers, newest first. */
  list(params: PageParams = {}): Promise<CustomerList> {
    return unwrap(this.api.GET("/api/customers", { params: { query: params } }));
  }

  /** Deletes a customer. */
  delete(id: string): Promise<DeletedCustomer> {
    return unwrap(this.api.DELETE("/api/customers/{id}", { params: { path: { id } } }));
  }

  /**
   * Ends every sign-in (refresh chain) of the customer. Access tokens already issued
   * stay valid until they expire (15 minutes by default).
   */
  revokeSessions(id: string): Promise<RevokedSessions> {
    return unwrap(
      this.api.POST("/api/customers/{id}/sessions/revoke", { params: { path: { id } } }),
    );
  }
}

/**
 * Signing your customers in with their email and password: `/api/auth/*`, with the
 * app's publishable key (`new Dream({ publishableKey })`), from a browser or a server.
 *
 * Failures arrive as a {@link DreamError}: `invalid_credentials` (401, the same for a
 * wrong password and an unknown email), `too_many_attempts` (429, `retryAfter`
 * seconds), `invalid_refresh_token` (401: sign in again).
 */
export class Auth {
  constructor(private readonly api: ApiClient | undefined) {}

  private client(): ApiClient {
    if (this.api === undefined) {
      throw new TypeError("dream.auth needs the app's publishable key: new Dream({ publishableKey })");
    }
    return this.api;
  }

  /** Signs a customer in: an access token (JWT, 15 minutes by default) and a refresh token. */
  login(email: string, password: string): Promise<Tokens> {
    return unwrap(this.client().POST("/api/auth/login", { body: { email, password } }));
  }

  /**
   * A new pair for a refresh token; the old refresh token stops working. Refreshing
   * with a token that was already used ends the whole sign-in, so refresh from one
   * place at a time.
   */
  refresh(refreshToken: string): Promise<Tokens> {
    return unwrap(this.client().POST("/api/auth/refresh", { body: { refreshToken } }));
  }

  /** Ends the sign-in of this refresh token (the access token expires on its own). */
  async logout(refreshToken: string): Promise<void> {
    await unwrap(this.client().POST("/api/auth/logout", { body: { refreshToken } }));
  }

  /** The public keys that verify access tokens (`/.well-known/jwks.json`, no key needed). */
  jwks(): Promise<JwkSet> {
    return unwrap(this.client().GET("/.well-known/jwks.json"));
  }
}

/** API keys you issue to one of your customers: `/api/customers/{id}/keys`. */
export class CustomerKeys {
  constructor(private readonly api: ApiClient) {}

  /**
   * Issues a `ck_test_…` / `ck_live_…` key to the customer (our id or your external
   * id). `secret` is in this result only: hand it to your customer now.
   */
  create(
    customerId: string,
    params: CreateCustomerKeyParams = {},
    options?: PostOptions,
  ): Promise<IssuedCustomerKey> {
    return unwrap(
      this.api.POST("/api/customers/{id}/keys", {
        params: { path: { id: customerId }, header: idempotency(options) },
        body: params,
      }),
    );
  }

  /** The customer's keys, oldest first (never the keys themselves). */
  async list(customerId: string): Promise<CustomerKey[]> {
    const result = await unwrap(
      this.api.GET("/api/customers/{id}/keys", { params: { path: { id: customerId } } }),
    );
    return result.data;
  }

  /** Revokes a key at once (every server process within 1 s). */
  revoke(customerId: string, keyId: string): Promise<CustomerKey> {
    return unwrap(
      this.api.DELETE("/api/customers/{id}/keys/{keyId}", {
        params: { path: { id: customerId, keyId } },
      }),
    );
  }

  /** Rolls a key: a new key now, the old one working `overlapSeconds` more (default 0). */
  roll(
    customerId: string,
    keyId: string,
    overlapSeconds?: number,
    options?: PostOptions,
  ): Promise<RolledCustomerKey> {
    return unwrap(
      this.api.POST("/api/customers/{id}/keys/{keyId}/roll", {
        params: { path: { id: customerId, keyId }, header: idempotency(options) },
        body: overlapSeconds === undefined ? {} : { overlapSeconds },
      }),
    );
  }
}

/** Options of {@link Keys.verify}. */
export interface VerifyOptions extends PostOptions {
  /** Units to count against the key's customer's plan in the same call. */
  amount?: number;
  /** The meter to read or count (default `requests`). */
  meter?: string;
}

/** Verifying your customers' keys: `/api/keys/verify`. */
export class Keys {
  constructor(private readonly api: ApiClient) {}

  /**
   * Verifies a key your customer presented and, with `amount`, counts it against
   * their plan. Never throws for a verdict: `valid` says whether to serve, `code`
   * why (`VALID`, `NOT_FOUND`, `REVOKED`, `EXPIRED`, `USAGE_EXCEEDED`, `RATE_LIMITED`).
   */
  verify(key: string, options: VerifyOptions = {}): Promise<KeyVerification> {
    return unwrap(
      this.api.POST("/api/keys/verify", {
        params: { header: idempotency(options) },
        body: {
          key,
          ...(options.amount === undefined ? {} : { amount: options.amount }),
          ...(options.meter === undefined ? {} : { meter: options.meter }),
        },
      }),
    );
  }
}

/**
 * Usage against tier limits and entitlements: `/api/data`, `/api/usage`,
 * `/api/entitlements`, `/api/check` and `/api/usage/history`.
 */
export class Usage {
  constructor(private readonly api: ApiClient) {}

  /**
   * Counts a call for `userId` (our id or your external id; an unknown one is created
   * on first sight). Throws a {@link DreamError} with `code` `usage_limit_reached`
   * (status 429) when the plan's limit is used up; nothing is counted then.
   */
  track(userId: string, options: TrackOptions = {}): Promise<TrackResult> {
    const header = {
      "X-User-Id": userId,
      ...(options.plan === undefined ? {} : { "X-User-Plan": options.plan }),
      ...idempotency(options),
    };
    const body = {
      ...(options.amount === undefined ? {} : { amount: options.amount }),
      ...(options.meter === undefined ? {} : { meter: options.meter }),
    };
    return unwrap(
      this.api.POST("/api/data", {
        params: { header },
        ...(Object.keys(body).length === 0 ? {} : { body }),
      }),
    );
  }

  /**
   * Grants `amount` credits of `meter` to a customer (`usr_…` or your external id).
   * Tracks spend them after the plan's allowance. With `idempotencyKey` the grant
   * happens once (a retry answers `replayed: true` and the first grant's balance).
   */
  grantCredits(
    customerId: string,
    grant: { meter: string; amount: number; reason?: string },
    options: PostOptions = {},
  ): Promise<CreditsGranted> {
    return unwrap(
      this.api.POST("/api/customers/{id}/credits", {
        params: { path: { id: customerId }, header: idempotency(options) },
        body: grant,
      }),
    );
  }

  /** The customer's usage in the current period (never changes it). */
  get(userId: string, options: UsageOptions = {}): Promise<UsageReport> {
    const header = {
      "X-User-Id": userId,
      ...(options.plan === undefined ? {} : { "X-User-Plan": options.plan }),
    };
    return unwrap(this.api.GET("/api/usage", { params: { header } }));
  }

  /**
   * The customer's plan, each flag (`true` when the plan has it) and each meter with
   * `used`, `limit`, `remaining` and `resetsAt`, from one read.
   */
  entitlements(userId: string, options: UsageOptions = {}): Promise<Entitlements> {
    const header = {
      "X-User-Id": userId,
      ...(options.plan === undefined ? {} : { "X-User-Plan": options.plan }),
    };
    return unwrap(this.api.GET("/api/entitlements", { params: { header } }));
  }

  /**
   * Whether the customer's plan has a flag (`{ flag: "sso" }`), or would accept an
   * amount of a meter now (`{ meter: "requests", amount: 3 }`). Consumes nothing and
   * leaves the rate window alone; an unknown flag answers `allowed: false`.
   */
  check(userId: string, params: CheckParams, options: UsageOptions = {}): Promise<CheckResult> {
    const header = {
      "X-User-Id": userId,
      ...(options.plan === undefined ? {} : { "X-User-Plan": options.plan }),
    };
    const query =
      "flag" in params
        ? { flag: params.flag }
        : { meter: params.meter, ...(params.amount === undefined ? {} : { amount: params.amount }) };
    return unwrap(this.api.GET("/api/check", { params: { header, query } }));
  }

  /** Your usage across customers per hour or day, every bucket of the range listed. */
  history(params: UsageHistoryParams = {}): Promise<UsageHistory> {
    return unwrap(this.api.GET("/api/usage/history", { params: { query: params } }));
  }
}

/** Pricing tiers: `/api/tiers`. */
export class Tiers {
  constructor(private readonly api: ApiClient) {}

  /** The tiers on offer, in configured order. */
  async list(): Promise<Tier[]> {
    const result = await unwrap(this.api.GET("/api/tiers"));
    return result.tiers;
  }
}

/** The dashboard: `/api/dashboard`. */
export class DashboardApi {
  constructor(private readonly api: ApiClient) {}

  /** Customers, usage, tiers, MRR, churn and recent events. */
  get(): Promise<Dashboard> {
    return unwrap(this.api.GET("/api/dashboard"));
  }

  /** All customers with this period's usage, as RFC 4180 CSV text. */
  exportCustomersCsv(): Promise<string> {
    return unwrap(this.api.GET("/api/dashboard/customers.csv", { parseAs: "text" }));
  }
}

/** The event log: `/api/events`. */
export class Events {
  constructor(private readonly api: ApiClient) {}

  /** A page of events, newest first. */
  list(params: PageParams = {}): Promise<EventList> {
    return unwrap(this.api.GET("/api/events", { params: { query: params } }));
  }
}

/**
 * Billing on your own Stripe account: `/api/create-checkout`, `/api/customer-portal`,
 * `/api/products` and `/api/cart/checkout`.
 *
 * Connect Stripe to the platform first (Connect or direct mode, with the admin token).
 * Failures arrive as a {@link DreamError}; billing `code`s include
 * `stripe_not_connected` (409, no Stripe account for this mode yet),
 * `billing_not_configured` (503, the server runs without Stripe),
 * `not_purchasable` (409: free, archived or not yet synced), `sold_out` (409, with
 * `product` and `available`), `card_declined` (402) and `billing_request_failed` /
 * `billing_unavailable` (Stripe refused or could not be reached).
 */
export class Billing {
  constructor(private readonly api: ApiClient) {}

  /**
   * A Stripe Checkout URL where customer `userId` (our id or your external id)
   * subscribes to the recurring `tier`. The URLs default to the server's
   * `DREAM_CHECKOUT_SUCCESS_URL` / `DREAM_CHECKOUT_CANCEL_URL`. Once they pay, the
   * Stripe webhook moves the customer to the tier.
   *
   * Throws a {@link DreamError}: `stripe_not_connected` (409), `not_purchasable` for a
   * free tier, `conflict` (409) when the customer is already on it, `not_found`.
   */
  checkout(userId: string, params: CheckoutParams, options: PostOptions = {}): Promise<CheckoutSession> {
    return unwrap(
      this.api.POST("/api/create-checkout", {
        params: { header: { "X-User-Id": userId, ...idempotency(options) } },
        body: params,
      }),
    );
  }

  /**
   * A Stripe billing portal URL where customer `userId` manages or cancels their
   * subscription; `returnUrl` is where its "return" link goes.
   *
   * Throws a {@link DreamError}: `stripe_not_connected` (409), `not_found`.
   */
  portal(userId: string, params?: PortalParams, options: PostOptions = {}): Promise<PortalSession> {
    return unwrap(
      this.api.POST("/api/customer-portal", {
        params: { header: { "X-User-Id": userId, ...idempotency(options) } },
        ...(params === undefined ? {} : { body: params }),
      }),
    );
  }

  /**
   * The one-off products on offer, in configured order, with their stock
   * (`available`, `soldOut`). `priceId` is `null` until Stripe is connected and the
   * tiers are synced; put it in a {@link Billing.cart} line.
   */
  async products(): Promise<Product[]> {
    const result = await unwrap(this.api.GET("/api/products"));
    return result.products;
  }

  /**
   * A Stripe Checkout URL for a cart of one-off products. The units are reserved
   * at once (until `reservedUntil`), so two buyers never both get the last one;
   * payment commits the reservation, an expired session releases it.
   *
   * Throws a {@link DreamError}: `sold_out` (409; `product` and `available` say what
   * ran out, nothing was reserved), `stripe_not_connected` (409), `invalid_request`
   * (400, `field` names a `priceId` that is not a product on offer).
   */
  cart(params: CartParams, options: CartOptions = {}): Promise<CartCheckout> {
    const header = {
      ...(options.userId === undefined ? {} : { "X-User-Id": options.userId }),
      ...idempotency(options),
    };
    return unwrap(this.api.POST("/api/cart/checkout", { params: { header }, body: params }));
  }
}

/**
 * The dream API with a secret key.
 *
 * ```ts
 * const dream = new Dream({ secretKey: process.env.DREAM_SECRET_KEY!, baseUrl: "http://127.0.0.1:8787" });
 * const customer = await dream.customers.create({ email: "sharon@example.com", plan: "free" });
 * const { usage } = await dream.usage.track(customer.id);
 * const { url } = await dream.billing.checkout(customer.id, { tier: "pro" });
 *
 * // In the browser, with the publishable key:
 * const app = new Dream({ publishableKey: "pk_test_…", baseUrl: "https://api.example.com" });
 * const { accessToken, refreshToken } = await app.auth.login("ada@example.com", password);
 * ```
 */
export class Dream {
  readonly customers: Customers;
  readonly usage: Usage;
  /** Your customers' API keys (`ck_…`): issue, list, revoke, roll. */
  readonly customerKeys: CustomerKeys;
  /** Verifying your customers' keys. */
  readonly keys: Keys;
  readonly tiers: Tiers;
  readonly dashboard: DashboardApi;
  readonly events: Events;
  readonly billing: Billing;
  /** Signing your customers in (needs `publishableKey`). */
  readonly auth: Auth;
  /** The typed openapi-fetch client underneath, for calls this layer does not wrap. */
  readonly client: ApiClient;

  constructor(options: DreamOptions) {
    const key = options?.secretKey ?? options?.publishableKey;
    if (!key) {
      throw new TypeError(
        "new Dream({ secretKey }) needs a secret key (sk_test_… or sk_live_…), or a publishableKey for dream.auth",
      );
    }
    const client = (bearer: string) =>
      createClient<paths>({
        baseUrl: (options.baseUrl ?? "http://127.0.0.1:8787").replace(/\/+$/, ""),
        headers: { ...options.headers, Authorization: `Bearer ${bearer}` },
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
    this.client = client(key);
    this.auth = new Auth(options.publishableKey ? client(options.publishableKey) : undefined);
    this.customers = new Customers(this.client);
    this.usage = new Usage(this.client);
    this.customerKeys = new CustomerKeys(this.client);
    this.keys = new Keys(this.client);
    this.tiers = new Tiers(this.client);
    this.dashboard = new DashboardApi(this.client);
    this.events = new Events(this.client);
    this.billing = new Billing(this.client);
  }
}
