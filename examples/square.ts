// Query parameters, validated and coerced by a schema (any Standard Schema library).
//   curl 'http://local--square-square-dev.localhost:8600/?x=42'   → {"square":1764}
//   curl 'http://local--square-square-dev.localhost:8600/?x=abc'  → 422 naming query.x
import { App } from "berthjs";
import { z } from "zod";

const app = new App("square");

export const square = app.function().webEndpoint(
  { query: z.object({ x: z.coerce.number().int() }) },
  ({ query }) => ({ square: query.x ** 2 }),
);
