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
/** A pricing tier. */
export type Tier = Schemas["TierDto"];
/** The dashboard snapshot. */
export type Dashboard = Schemas["DashboardResponse"];
/** An entry of the event log. */
export type DreamEvent = Schemas["EventDto"];
/** A page of events. */
export type EventList = Schemas["EventList"];

/** Options of the {@link Dream} client. */
export interface DreamOptions {
  /** A secret key, `sk_test_…` or `sk_live_…`. Keep it on your server. */
  secretKey: string;
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
  /** Units to count (default 1). All or nothing. */
  amount?: number;
}

/** Options of {@link Usage.get}. */
export interface UsageOptions {
  /** Plan for a customer seen for the first time; ignored for known customers. */
  plan?: string;
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
}

/** Usage against tier limits: `/api/data` and `/api/usage`. */
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
    return unwrap(
      this.api.POST("/api/data", {
        params: { header },
        ...(options.amount === undefined ? {} : { body: { amount: options.amount } }),
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
 * The dream API with a secret key.
 *
 * ```ts
 * const dream = new Dream({ secretKey: process.env.DREAM_SECRET_KEY!, baseUrl: "http://127.0.0.1:8787" });
 * const customer = await dream.customers.create({ email: "sharon@example.com", plan: "free" });
 * const { usage } = await dream.usage.track(customer.id);
 * ```
 */
export class Dream {
  readonly customers: Customers;
  readonly usage: Usage;
  readonly tiers: Tiers;
  readonly dashboard: DashboardApi;
  readonly events: Events;
  /** The typed openapi-fetch client underneath, for calls this layer does not wrap. */
  readonly client: ApiClient;

  constructor(options: DreamOptions) {
    if (!options?.secretKey) {
      throw new TypeError("new Dream({ secretKey }) needs a secret key (sk_test_… or sk_live_…)");
    }
    this.client = createClient<paths>({
      baseUrl: (options.baseUrl ?? "http://127.0.0.1:8787").replace(/\/+$/, ""),
      headers: { ...options.headers, Authorization: `Bearer ${options.secretKey}` },
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.customers = new Customers(this.client);
    this.usage = new Usage(this.client);
    this.tiers = new Tiers(this.client);
    this.dashboard = new DashboardApi(this.client);
    this.events = new Events(this.client);
  }
}
