// A POST endpoint that accepts any JSON object (the document's `item: dict`).
//   curl -X POST -H 'Content-Type: application/json' --data-binary '{"x": 42}' \
//     http://local--square-post-square-dev.localhost:8600/          → {"square":1764}
import { App } from "berthjs";

const app = new App("square-post");

export const square = app
  .function()
  .webEndpoint({ method: "POST" }, ({ body }) => {
    const item = body as { x: number };
    return { square: item.x ** 2 };
  });
