/**
 * The pages that manage a workspace rather than watch it: API and proxy
 * tokens, secrets, the workspace's rate limit; and the sign-in page, the
 * only one an anonymous browser ever gets. Secrets' values and tokens'
 * secrets are never on any page but the one right after a token is made.
 */
import type { FC } from "hono/jsx";
import type { SecretView, TokenView, WorkspaceLimitView } from "../wire/control-api.js";
import { assets } from "./assets.js";
import { base, Badge, Layout, PostForm, Time, type PageContext } from "./layout.js";

export const TokensPage: FC<{ ctx: PageContext; tokens: TokenView[] }> = ({ ctx, tokens }) => (
  <Layout ctx={ctx} title="Tokens" section="tokens">
    <h1>
      Tokens <span class="sub">workspace {ctx.workspace}</span>
    </h1>
    <PostForm ctx={ctx} action={`${base(ctx.workspace)}/tokens`} inline={false} id="create-token">
      <fieldset>
        <legend>New token</legend>
        <div class="row">
          <label>
            Kind
            <select name="kind">
              <option value="api">API token (control API, CLI, dashboard)</option>
              <option value="proxy">Proxy-auth token (Berth-Key / Berth-Secret)</option>
            </select>
          </label>
          <label>
            Name (a note)
            <input name="name" maxlength={100} />
          </label>
          {ctx.principal.admin ? (
            <label>
              Admin
              <input type="checkbox" name="admin" value="1" />
            </label>
          ) : null}
          <button type="submit" class="primary">
            Create
          </button>
        </div>
        <p class="sub">The secret is shown once, right after it is made; berth keeps only its hash.</p>
      </fieldset>
    </PostForm>
    <table id="tokens">
      <thead>
        <tr>
          <th>Id</th>
          <th>Kind</th>
          <th>Name</th>
          <th>Created</th>
          <th>State</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        {tokens.map((t) => (
          <tr data-token={t.id}>
            <td class="mono">{t.id}</td>
            <td>
              {t.kind} {t.admin ? <Badge kind="admin" /> : null}
            </td>
            <td>{t.name}</td>
            <td>
              <Time ms={t.createdAt} />
            </td>
            <td>
              {t.revokedAt === null ? (
                <Badge kind="ready" text="valid" />
              ) : (
                <span>
                  <Badge kind="stopped" text="revoked" /> <Time ms={t.revokedAt} />
                </span>
              )}
            </td>
            <td>
              {t.revokedAt === null ? (
                <PostForm
                  ctx={ctx}
                  action={`${base(ctx.workspace)}/tokens/${encodeURIComponent(t.id)}/revoke`}
                  confirm={`Revoke ${t.id}? Everything using it is refused from the next request on.`}
                >
                  <button class="danger" type="submit" data-revoke={t.id}>
                    Revoke
                  </button>
                </PostForm>
              ) : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  </Layout>
);

export const SecretsPage: FC<{ ctx: PageContext; secrets: SecretView[] }> = ({ ctx, secrets }) => (
  <Layout ctx={ctx} title="Secrets" section="secrets">
    <h1>
      Secrets <span class="sub">workspace {ctx.workspace}</span>
    </h1>
    <PostForm ctx={ctx} action={`${base(ctx.workspace)}/secrets`} inline={false} id="create-secret">
      <fieldset>
        <legend>New secret (or replace all keys of one)</legend>
        <div class="row">
          <label>
            Name
            <input name="name" required maxlength={63} />
          </label>
          <label>
            Values, one KEY=value a line
            <textarea name="values" rows={3} cols={50} required autocomplete="off" spellcheck={false}></textarea>
          </label>
          <button type="submit" class="primary">
            Save
          </button>
        </div>
        <p class="sub">Values are encrypted at rest and never shown again, here or anywhere.</p>
      </fieldset>
    </PostForm>
    <table id="secrets">
      <thead>
        <tr>
          <th>Name</th>
          <th>Keys</th>
          <th>Created</th>
          <th>Updated</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        {secrets.map((s) => (
          <tr data-secret={s.name}>
            <td class="mono">{s.name}</td>
            <td class="mono">{s.keys.join(", ")}</td>
            <td>
              <Time ms={s.createdAt} />
            </td>
            <td>
              <Time ms={s.updatedAt} />
            </td>
            <td>
              <PostForm
                ctx={ctx}
                action={`${base(ctx.workspace)}/secrets/${encodeURIComponent(s.name)}/delete`}
                confirm={`Delete secret ${s.name}? Functions that name it will fail to deploy.`}
              >
                <button class="danger" type="submit">
                  Delete
                </button>
              </PostForm>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  </Layout>
);

export const LimitsPage: FC<{ ctx: PageContext; limit: WorkspaceLimitView }> = ({ ctx, limit }) => {
  const field = (name: string, label: string, value: number | null, custom: boolean) => (
    <label>
      {label}
      <input name={name} type="number" min="0" step="any" value={custom && value !== null ? String(value) : ""} placeholder={value === null ? "server's" : String(value)} />
    </label>
  );
  return (
    <Layout ctx={ctx} title="Rate limit" section="limits">
      <h1>
        Rate limit <span class="sub">workspace {ctx.workspace}</span>
      </h1>
      <table id="limit">
        <tbody>
          <tr>
            <th>Workspace budget</th>
            <td>
              {limit.rate} requests/s, burst {limit.burst} {limit.custom ? <Badge kind="ready" text="own" /> : <span class="muted">(the server's default)</span>}
            </td>
          </tr>
          <tr>
            <th>One client address (public endpoints)</th>
            <td>
              {limit.client.rate} requests/s, burst {limit.client.burst}{" "}
              {limit.clientCustom ? <Badge kind="ready" text="own" /> : <span class="muted">(the server's default)</span>}
            </td>
          </tr>
          <tr>
            <th>Containers</th>
            <td>
              {limit.containers === null ? <span class="muted">the server's cap</span> : limit.containers} (server: {limit.serverContainers})
            </td>
          </tr>
        </tbody>
      </table>
      {ctx.principal.admin ? (
        <PostForm ctx={ctx} action={`${base(ctx.workspace)}/limits`} inline={false} id="set-limit">
          <fieldset>
            <legend>Change (empty: the server's default)</legend>
            <div class="row">
              {field("rate", "Requests/s", limit.rate, limit.custom)}
              {field("burst", "Burst", limit.burst, limit.custom)}
              {field("clientRate", "Per client requests/s", limit.client.rate, limit.clientCustom)}
              {field("clientBurst", "Per client burst", limit.client.burst, limit.clientCustom)}
              {field("containers", "Containers", limit.containers, limit.containers !== null)}
              <button type="submit" class="primary">
                Save
              </button>
            </div>
          </fieldset>
        </PostForm>
      ) : (
        <p class="sub">Only an admin token can change a workspace's limits.</p>
      )}
    </Layout>
  );
};

/** The sign-in page: the only page an anonymous browser gets. */
export const LoginPage: FC<{ error?: string; local: boolean }> = ({ error, local }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>Sign in · berth</title>
      <link rel="icon" href="data:," />
      <link rel="stylesheet" href={assets().style.url} />
    </head>
    <body>
      <form class="login" method="post" action="/login">
        <h1>berth</h1>
        {local ? <p>Open the dashboard link that <code>berth serve</code> printed, or sign in with an API token.</p> : <p>Sign in with an API token.</p>}
        {error ? (
          <p class="flash error" role="alert">
            {error}
          </p>
        ) : null}
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" placeholder="bt_…" required />
        <button class="primary" type="submit">
          Sign in
        </button>
        <p class="sub">
          A member token sees its own workspace; an admin token every one. <code>berth token create</code> makes one.
        </p>
      </form>
    </body>
  </html>
);

/** An error page for a signed-in browser (403, 404). */
export const ErrorPage: FC<{ ctx: PageContext; title: string; message: string }> = ({ ctx, title, message }) => (
  <Layout ctx={ctx} title={title} section="apps">
    <h1>{title}</h1>
    <p id="error-message">{message}</p>
    <p>
      <a href={`${base(ctx.principal.workspace)}/`}>Back to your apps</a>
    </p>
  </Layout>
);
