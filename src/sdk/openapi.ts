/**
 * The documentation a simple web endpoint serves with `docs: true`: an
 * OpenAPI 3.1 document built from its Standard Schemas, and a self-contained
 * HTML page rendering it (no CDN: containers and users may have no internet).
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { HttpMethod } from "./endpoint.js";
import { toJsonSchema } from "./schema.js";

type JsonObject = Record<string, unknown>;

export interface OpenApiInput {
  /** The function's name: document title and operationId. */
  name: string;
  method: HttpMethod;
  query?: StandardSchemaV1 | undefined;
  body?: StandardSchemaV1 | undefined;
}

const SCHEMA_REF = "#/components/schemas/";

const FIELD_ISSUE_SCHEMA: JsonObject = {
  type: "object",
  required: ["loc", "message"],
  properties: {
    loc: { type: "array", items: { type: ["string", "integer"] }, description: 'Where the field is, e.g. ["query", "x"]' },
    message: { type: "string" },
  },
};

const VALIDATION_ERROR_SCHEMA: JsonObject = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message", "issues"],
      properties: {
        code: { const: "invalid_input" },
        message: { type: "string" },
        issues: { type: "array", items: { $ref: `${SCHEMA_REF}FieldIssue` } },
      },
    },
  },
};

const ERROR_SCHEMA: JsonObject = {
  type: "object",
  required: ["error"],
  properties: {
    error: { type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" } } },
  },
};

export function buildOpenApiDocument(input: OpenApiInput): JsonObject {
  const schemas: Record<string, JsonObject> = {};
  const operation: JsonObject = { operationId: input.name, summary: input.name };

  const querySchema = input.query ? adopt(toJsonSchema(input.query), "Query", schemas) : undefined;
  const properties = querySchema?.properties;
  if (typeof properties === "object" && properties !== null) {
    const required = new Set(Array.isArray(querySchema?.required) ? querySchema.required : []);
    operation.parameters = Object.entries(properties as Record<string, JsonObject>).map(([name, schema]) => {
      const parameter: JsonObject = { name, in: "query", required: required.has(name), schema };
      if (typeof schema.description === "string") parameter.description = schema.description;
      return parameter;
    });
  }

  const takesBody = input.method !== "GET";
  if (takesBody) {
    const bodySchema = input.body ? adopt(toJsonSchema(input.body), "Body", schemas) : undefined;
    operation.requestBody = {
      // Without a schema any JSON value, or none at all, is accepted.
      required: input.body !== undefined,
      content: { "application/json": { schema: bodySchema ? { $ref: `${SCHEMA_REF}Body` } : {} } },
    };
  }

  const responses: JsonObject = {
    "200": { description: "Successful response", content: { "application/json": { schema: {} } } },
  };
  if (takesBody) {
    responses["415"] = {
      description: "The request body is not JSON",
      content: { "application/json": { schema: { $ref: `${SCHEMA_REF}Error` } } },
    };
  }
  if (takesBody || input.query) {
    responses["422"] = {
      description: "Invalid input: every bad field with the reason",
      content: { "application/json": { schema: { $ref: `${SCHEMA_REF}ValidationError` } } },
    };
  }
  responses["500"] = {
    description: "The function failed",
    content: { "application/json": { schema: { $ref: `${SCHEMA_REF}Error` } } },
  };
  operation.responses = responses;

  schemas.FieldIssue = FIELD_ISSUE_SCHEMA;
  schemas.ValidationError = VALIDATION_ERROR_SCHEMA;
  schemas.Error = ERROR_SCHEMA;

  return {
    openapi: "3.1.0",
    info: { title: input.name, version: "1.0.0" },
    paths: { "/": { [input.method.toLowerCase()]: operation } },
    components: { schemas },
  };
}

/**
 * Files a standalone JSON Schema under `components.schemas`. Its `$defs` and
 * self references (`#`, `#/$defs/...`, as zod emits for recursive and reused
 * types) point into the standalone document; inside the OpenAPI document `#`
 * is the document root, so every local `$ref` has to be rewritten.
 */
function adopt(schema: JsonObject | undefined, name: string, schemas: Record<string, JsonObject>): JsonObject | undefined {
  if (schema === undefined) return undefined;
  const defs = { ...asRecord(schema.definitions), ...asRecord(schema.$defs) };
  const defName = (key: string) => `${name}_${key.replace(/[^A-Za-z0-9._-]/g, "_")}`;
  const rewriteRef = (ref: string): string => {
    if (!ref.startsWith("#")) return ref;
    const match = /^#\/(?:\$defs|definitions)\/([^/]+)(.*)$/.exec(ref);
    if (match) return SCHEMA_REF + defName(decodePointer(match[1]!)) + match[2]!;
    return SCHEMA_REF + name + ref.slice(1);
  };
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (typeof node !== "object" || node === null) return node;
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(node)) {
      out[key] = key === "$ref" && typeof value === "string" ? rewriteRef(value) : rewrite(value);
    }
    return out;
  };
  for (const [key, def] of Object.entries(defs)) schemas[defName(key)] = rewrite(def) as JsonObject;
  const { $schema: _schema, $defs: _defs, definitions: _definitions, ...root } = schema;
  const adopted = rewrite(root) as JsonObject;
  schemas[name] = adopted;
  return adopted;
}

function asRecord(value: unknown): JsonObject {
  return typeof value === "object" && value !== null ? (value as JsonObject) : {};
}

function decodePointer(segment: string): string {
  let decoded = segment;
  try {
    decoded = decodeURIComponent(segment);
  } catch {}
  return decoded.replace(/~1/g, "/").replace(/~0/g, "~");
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** A short type label for a JSON Schema, for the parameter table. */
function typeLabel(schema: unknown): string {
  if (typeof schema !== "object" || schema === null) return "any";
  const s = schema as JsonObject;
  if (typeof s.$ref === "string") return s.$ref.slice(s.$ref.lastIndexOf("/") + 1);
  if ("const" in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  const variants = s.anyOf ?? s.oneOf;
  if (Array.isArray(variants)) return variants.map(typeLabel).join(" | ");
  if (s.type === "array") return `${typeLabel(s.items)}[]`;
  if (Array.isArray(s.type)) return s.type.join(" | ");
  if (typeof s.type === "string") return s.type;
  return "any";
}

/** JSON, HTML-escaped, with schema references turned into in-page links. */
function schemaHtml(schema: unknown): string {
  return escapeHtml(JSON.stringify(schema, null, 2)).replace(
    /(&quot;\$ref&quot;: &quot;)#\/components\/schemas\/([A-Za-z0-9._-]+)([^&]*)(&quot;)/g,
    (_all, head: string, ref: string, rest: string, tail: string) =>
      `${head}<a href="#schema-${ref}">#/components/schemas/${ref}${rest}</a>${tail}`,
  );
}

/** The `/docs` page: everything rendered server-side, script only for "try it". */
export function renderDocsPage(document: JsonObject): string {
  const info = asRecord(document.info);
  const title = String(info.title ?? "API");
  const [path, item] = Object.entries(asRecord(document.paths))[0] ?? ["/", {}];
  const [method, op] = Object.entries(asRecord(item))[0] ?? ["get", {}];
  const operation = asRecord(op);
  const parameters = Array.isArray(operation.parameters) ? (operation.parameters as JsonObject[]) : [];
  const requestBody = operation.requestBody === undefined ? undefined : asRecord(operation.requestBody);
  const responses = asRecord(operation.responses);
  const schemas = asRecord(asRecord(document.components).schemas);
  let bodySchema = requestBody ? asRecord(asRecord(asRecord(requestBody.content)["application/json"]).schema) : undefined;
  // Show the body's fields right here rather than a bare reference.
  if (typeof bodySchema?.$ref === "string" && bodySchema.$ref.startsWith(SCHEMA_REF)) {
    bodySchema = asRecord(schemas[bodySchema.$ref.slice(SCHEMA_REF.length)]);
  }

  const paramRows = parameters
    .map((p) => {
      const name = escapeHtml(String(p.name));
      const required = p.required === true;
      return `<tr><td><code>${name}</code>${required ? ' <span class="req">required</span>' : ""}</td><td><code>${escapeHtml(typeLabel(p.schema))}</code></td><td>${escapeHtml(String(p.description ?? ""))}</td><td><input name="${name}" form="try" data-param${required ? " required" : ""} placeholder="${name}"></td></tr>`;
    })
    .join("\n");
  const responseRows = Object.entries(responses)
    .map(([status, r]) => {
      const schema = asRecord(asRecord(asRecord(asRecord(r).content)["application/json"]).schema);
      return `<tr><td><code>${escapeHtml(status)}</code></td><td>${escapeHtml(String(asRecord(r).description ?? ""))}</td><td><code>${escapeHtml(typeLabel(schema))}</code></td></tr>`;
    })
    .join("\n");
  const schemaBlocks = Object.entries(schemas)
    .map(([name, schema]) => `<h3 id="schema-${escapeHtml(name)}">${escapeHtml(name)}</h3>\n<pre>${schemaHtml(schema)}</pre>`)
    .join("\n");
  const upper = method.toUpperCase();

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · API docs</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2330}
h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
.op{display:flex;gap:.6rem;align-items:center;font-size:1.1rem}
.method{font-weight:700;color:#fff;background:#3867d6;border-radius:4px;padding:.1rem .5rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;border-bottom:1px solid #eef;padding:.35rem .5rem;vertical-align:top}
pre{background:#f5f6fa;padding:.7rem;border-radius:4px;overflow:auto}
.req{color:#c0392b;font-size:.8rem}textarea{width:100%;min-height:8rem;font-family:monospace}
button{font-size:1rem;padding:.3rem 1rem}#status{font-weight:700}
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>OpenAPI document: <a href="openapi.json">openapi.json</a></p>
<div class="op"><span class="method">${escapeHtml(upper)}</span><code>${escapeHtml(path)}</code></div>
<h2>Query parameters</h2>
${parameters.length ? `<table><tr><th>name</th><th>type</th><th>description</th><th>try it</th></tr>\n${paramRows}</table>` : "<p>None.</p>"}
${
  requestBody
    ? `<h2>Request body</h2>
<p><code>application/json</code>${requestBody.required === true ? ' <span class="req">required</span>' : ""}</p>
<pre>${schemaHtml(bodySchema)}</pre>
<textarea name="body" form="try" id="body" placeholder="JSON body"></textarea>`
    : ""
}
<h2>Try it</h2>
<form id="try"><button type="submit">Send ${escapeHtml(upper)} request</button></form>
<p id="status"></p>
<pre id="result" hidden></pre>
<h2>Responses</h2>
<table><tr><th>status</th><th>description</th><th>body</th></tr>
${responseRows}</table>
<h2>Schemas</h2>
${schemaBlocks}
<script>
const form = document.getElementById("try");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const url = new URL(${JSON.stringify(path)}, location.href);
  for (const input of document.querySelectorAll("input[data-param]")) {
    if (input.value !== "") url.searchParams.append(input.name, input.value);
  }
  const init = { method: ${JSON.stringify(upper)}, headers: {} };
  const body = document.getElementById("body");
  if (body && body.value.trim() !== "") {
    init.body = body.value;
    init.headers["content-type"] = "application/json";
  }
  const status = document.getElementById("status");
  const result = document.getElementById("result");
  status.textContent = "…";
  try {
    const response = await fetch(url, init);
    let text = await response.text();
    try { text = JSON.stringify(JSON.parse(text), null, 2); } catch {}
    status.textContent = response.status + " " + response.statusText;
    result.textContent = text;
    result.hidden = false;
  } catch (error) {
    status.textContent = "Request failed: " + error;
  }
});
</script>
</body>
</html>
`;
}
