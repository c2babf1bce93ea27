/**
 * berth's SDK: what user code imports. It describes apps and functions and,
 * inside a container, serves them; it knows nothing of the platform.
 */
export { App, FunctionBuilder } from "./app.js";
export type { AppOptions, FunctionOptions, WebAppOptions, WebServerOptions, FetchApp, NodeApp, NodeListener } from "./app.js";
export type { EndpointOptions, EndpointContext, EndpointHandler, HttpMethod, RawQuery } from "./endpoint.js";
export type { CorsOption, CorsOptions } from "./cors.js";
export type { HttpServerLike, IncomingMessageLike, ServerResponseLike } from "./node-like.js";
export { Image } from "./image.js";
export { Secret } from "./secret.js";
export { callFunction, type CallFunctionOptions } from "./testing.js";
export type { EndpointTypes, FunctionDefinition, WebApp, WebEndpoint } from "./contract.js";
