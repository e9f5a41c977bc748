import type { components } from "./schema.js";

/** The error body every failed dream call returns. */
export type ErrorBody = components["schemas"]["ErrorBody"];

/** The stable codes of `ErrorBody.code`; branch on these, not on messages. */
export type ErrorCode = components["schemas"]["ErrorCode"];

/**
 * A failed call: the HTTP status plus our error body. Branch on `code`
 * (`usage_limit_reached`, `not_found`, `invalid_request`, `sold_out`, …); `message` says what to do.
 *
 * A code added to the server after this SDK was built still arrives in `code` as a
 * string, so compare with known codes rather than switching exhaustively.
 */
export class DreamError extends Error {
  override readonly name = "DreamError";
  /** HTTP status (400, 401, 402, 404, 409, 413, 415, 422, 429, 500, 502, 503). */
  readonly status: number;
  /** Stable machine-readable code. */
  readonly code: ErrorCode | (string & {});
  /** Short human title ("Tier limit reached"). */
  readonly error: string;
  /** JSON pointer or parameter name of the bad input (`invalid_request`). */
  readonly field: string | undefined;
  /** Our id for the request; quote it to support. */
  readonly requestId: string | undefined;
  /** The plan whose limit applied (`usage_limit_reached`). */
  readonly plan: string | undefined;
  /** The plan's limit (`usage_limit_reached`) or per-minute rate (`rate_limited`). */
  readonly limit: number | undefined;
  /** Usage counted in the period (`usage_limit_reached`). */
  readonly used: number | undefined;
  /** When the usage period ends, RFC 3339 (`usage_limit_reached`). */
  readonly periodEnd: string | undefined;
  /** The product that ran out (`sold_out`). */
  readonly product: string | undefined;
  /** Units left of that product (`sold_out`). */
  readonly available: number | undefined;
  /** Stripe's request id (`req_…`) when Stripe answered (billing errors). */
  readonly stripeRequestId: string | undefined;
  /** Seconds to wait before retrying (body, else the `Retry-After` header). */
  readonly retryAfter: number | undefined;
  /** The error body as received (`undefined` when the response was not our JSON). */
  readonly body: ErrorBody | undefined;

  constructor(status: number, body: ErrorBody | undefined, retryAfterHeader?: string | null) {
    super(body?.message ?? `HTTP ${status} without a dream error body`);
    this.status = status;
    this.body = body;
    this.code = body?.code ?? "unexpected_response";
    this.error = body?.error ?? "Unexpected response";
    this.field = body?.field;
    this.requestId = body?.requestId;
    this.plan = body?.plan;
    this.limit = body?.limit;
    this.used = body?.used;
    this.periodEnd = body?.periodEnd;
    this.product = body?.product;
    this.available = body?.available;
    this.stripeRequestId = body?.stripeRequestId;
    const header = retryAfterHeader ? Number(retryAfterHeader) : Number.NaN;
    this.retryAfter = body?.retryAfter ?? (Number.isFinite(header) ? header : undefined);
  }

  /** Builds the error from a failed response and whatever its body parsed to. */
  static fromResponse(response: Response, parsed: unknown): DreamError {
    return new DreamError(
      response.status,
      isErrorBody(parsed) ? parsed : undefined,
      response.headers.get("retry-after"),
    );
  }
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.code === "string" && typeof v.error === "string" && typeof v.message === "string";
}
