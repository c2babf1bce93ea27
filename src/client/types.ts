/**
 * The typed client's types: what a call to an exported function accepts and
 * returns, worked out from the function's own type (its schemas' input and
 * output types, its method, its handler's return type). Types only; pinned
 * by test/client-types.test.ts, which type-checks a file of expected types
 * and expected errors.
 */
import type { EndpointTypes, WebApp, WebEndpoint } from "../sdk/contract.js";

type Scalar = string | number | boolean | bigint;

/** A query value: a scalar is sent as `String(value)`, an array as the key repeated. */
export type QueryValue = Scalar | readonly Scalar[];

/** Flattens an intersection for readable hovers and error messages. */
type Simplify<T> = { [K in keyof T]: T[K] } & {};

type IsUnknown<T> = unknown extends T ? true : false;

/**
 * What a caller sends for one query field: the schema's input type when it
 * says something, else its output type (a coercing schema such as
 * `z.coerce.number()` accepts `unknown`, but a number is what it wants).
 */
type FieldInput<In, Out, K extends keyof Out> = K extends keyof In ? (IsUnknown<In[K]> extends true ? Out[K] : In[K]) : Out[K];

/** A field's type as a query value; anything else travels as a string anyway. */
type AsQueryValue<T> = T extends QueryValue ? T : string;

/** Whether `K` is optional (`?`) in `T`. */
type IsOptional<T, K extends keyof T> = Partial<Pick<T, K>> extends Pick<T, K> ? true : false;

/**
 * Fields a caller may leave out: optional in the schema's input type (zod
 * marks `.optional()` and `.default()` fields so, and keeps a coerced
 * required field required), or in its output type when the input says nothing.
 */
type OptionalKeys<In, Out> = {
  [K in keyof Out]-?: K extends keyof In ? (IsOptional<In, K> extends true ? K : never) : undefined extends Out[K] ? K : never;
}[keyof Out];

/** The query a caller passes, from the query schema's input (`In`) and output (`Out`) types. */
export type QueryArg<In, Out> =
  IsUnknown<In> extends true
    ? string extends keyof Out
      ? Record<string, QueryValue | undefined> // no schema: any keys
      : QueryObject<In, Out>
    : QueryObject<In, Out>;

type QueryObject<In, Out> = Simplify<
  { [K in Exclude<keyof Out, OptionalKeys<In, Out>>]: AsQueryValue<Exclude<FieldInput<In, Out, K>, undefined>> } & {
    [K in OptionalKeys<In, Out>]?: AsQueryValue<Exclude<FieldInput<In, Out, K>, undefined>> | undefined;
  }
>;

/** A function's `params` as the caller sends them: every field optional (the gateway fills defaults). */
export type ParamsArg<P> = IsUnknown<P> extends true ? Record<string, QueryValue | undefined> : { [K in keyof P]?: AsQueryValue<P[K]> | undefined };

/** What a handler may return that is sent as it is: the client hands back the `Response`. */
type RawReturn = Response | ReadableStream | Uint8Array | ArrayBuffer | Blob | AsyncIterable<unknown>;

/**
 * A value after a round trip through JSON: `Date`s (anything with
 * `toJSON`) become what that returns, `undefined` and functions vanish from
 * objects and become `null` elsewhere.
 */
export type Jsonified<T> = T extends string | number | boolean | null
  ? T
  : T extends undefined | symbol | ((...args: never[]) => unknown)
    ? null
    : T extends { toJSON(): infer J }
      ? Jsonified<J>
      : T extends readonly (infer E)[]
        ? Jsonified<E>[]
        : T extends object
          ? { [K in keyof T as K extends string ? (T[K] extends symbol | ((...args: never[]) => unknown) ? never : K) : never]: Jsonified<Exclude<T[K], undefined>> }
          : unknown;

/** What a call resolves to: the JSON of a plain return value, or the `Response` a handler built (or a stream it returned). */
export type ResultOf<R> = R extends RawReturn ? Response : Jsonified<R>;

/** Per-call options. */
export interface CallOptions {
  /** Extra request headers for this call. */
  headers?: HeadersInit | undefined;
  /** Aborts the call (and, at the gateway, the function's request). */
  signal?: AbortSignal | undefined;
}

type QueryOf<T extends EndpointTypes> = QueryArg<T["queryInput"], T["query"]>;
type Result<T extends EndpointTypes> = Promise<ResultOf<Awaited<T["returns"]>>>;

/** `get(query)`: the query is required when one of its fields is. */
type GetCall<T extends EndpointTypes> = Partial<QueryOf<T>> extends QueryOf<T>
  ? (query?: QueryOf<T>, options?: CallOptions) => Result<T>
  : (query: QueryOf<T>, options?: CallOptions) => Result<T>;

/** `post(body, { query })` and the other methods with a body. */
type BodyCall<T extends EndpointTypes> = Partial<QueryOf<T>> extends QueryOf<T>
  ? (body: T["body"], options?: CallOptions & { query?: QueryOf<T> | undefined }) => Result<T>
  : (body: T["body"], options: CallOptions & { query: QueryOf<T> }) => Result<T>;

/** A client of one simple endpoint: one method, named after the endpoint's (`get`, `post`, ...). */
export type EndpointClient<T extends EndpointTypes> = AppClient & {
  [M in Lowercase<T["method"]>]: M extends "get" ? GetCall<T> : BodyCall<T>;
};

/** A client of a whole app (`fetchApp`, `nodeApp`, `webServer`) or of any URL: plain requests, with berth's credentials and result URLs handled. */
export interface AppClient {
  /** The function's URL. */
  readonly url: string;
  /**
   * A request to a path of the function's host (default `/`): the
   * `Response` whatever its status, after following result URLs.
   */
  fetch(path?: string, init?: RequestInit): Promise<Response>;
}

/** The client `endpoint<F>()` returns for a function's type `F`. */
export type ClientOf<F> = F extends WebEndpoint<infer T> ? ("~endpoint" extends keyof F ? EndpointClient<T> : AppClient) : AppClient;

/** The `params` a function `F` takes, if it is parametrized. */
export type ParamsOf<F> =
  F extends WebEndpoint<infer T>
    ? "~endpoint" extends keyof F
      ? ParamsArg<T["params"]>
      : F extends WebApp<infer P>
        ? ParamsArg<P>
        : ParamsArg<unknown>
    : ParamsArg<unknown>;
