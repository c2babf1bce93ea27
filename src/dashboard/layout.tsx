/**
 * The frame of every signed-in page (head, navigation, workspace switch,
 * one-time messages) and the small pieces pages are built from: live
 * numbers, times, forms that carry the CSRF token. Rendered on the server
 * with Hono's JSX, which escapes every string it is given: names, log
 * lines and error messages come from users and containers.
 */
import type { Child, FC, PropsWithChildren } from "hono/jsx";
import type { Flash, SignedIn } from "./sessions.js";
import { assets } from "./assets.js";

/** What every page knows about the request it answers. */
export interface PageContext {
  /** The workspace shown. */
  workspace: string;
  principal: SignedIn;
  csrf: string;
  /** Workspaces an admin may switch to (the shown one among them); empty for a member. */
  workspaces: string[];
  flash?: Flash;
  /** `berth serve`'s dashboard: nobody signs in or out. */
  local: boolean;
}

export type Section = "apps" | "logs" | "tokens" | "secrets" | "limits";

/** `/w/<workspace>` and what follows: every page's address starts here. */
export function base(workspace: string): string {
  return `/w/${encodeURIComponent(workspace)}`;
}

export function appPath(workspace: string, app: string, dev: boolean, rest = ""): string {
  return `${base(workspace)}/apps/${encodeURIComponent(app)}${rest}${dev ? "?dev=1" : ""}`;
}

export function functionPath(workspace: string, app: string, dev: boolean, fn: string): string {
  return appPath(workspace, app, dev, `/functions/${encodeURIComponent(fn)}`);
}

interface LayoutProps {
  ctx: PageContext;
  title: string;
  section: Section;
  /** The live feed of the page (`data-live`), if it has one. */
  live?: string;
  /** Loads uPlot (the function page's charts). */
  charts?: boolean;
}

export const Layout: FC<PropsWithChildren<LayoutProps>> = ({ ctx, title, section, live, charts, children }) => {
  const a = assets();
  const home = base(ctx.workspace);
  const link = (name: Section, href: string, text: string) => (
    <a href={href} class={section === name ? "here" : undefined}>
      {text}
    </a>
  );
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · berth`}</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href={a.style.url} />
        {charts ? <link rel="stylesheet" href={a.uplotStyle.url} /> : null}
        {charts ? <script defer src={a.uplot.url}></script> : null}
        <script type="module" src={a.client.url}></script>
      </head>
      <body data-live={live} data-csrf={ctx.csrf}>
        <header>
          <a class="brand" href={`${home}/`}>
            berth
          </a>
          <nav>
            {link("apps", `${home}/`, "Apps")}
            {link("tokens", `${home}/tokens`, "Tokens")}
            {link("secrets", `${home}/secrets`, "Secrets")}
            {link("limits", `${home}/limits`, "Rate limit")}
          </nav>
          <span class="who">
            <span class="live" id="live-dot" title="live updates"></span>
            {ctx.local ? "berth serve" : `${ctx.principal.admin ? "admin" : "member"} token ${ctx.principal.tokenId}`}
          </span>
          {ctx.workspaces.length > 0 ? (
            <form method="get" action="/switch" class="inline" id="switch">
              <select name="workspace" aria-label="workspace">
                {ctx.workspaces.map((w) => (
                  <option value={w} selected={w === ctx.workspace}>
                    {w}
                  </option>
                ))}
              </select>
            </form>
          ) : (
            <span class="who">workspace {ctx.workspace}</span>
          )}
          {ctx.local ? null : (
            <PostForm ctx={ctx} action="/logout">
              <button type="submit">Sign out</button>
            </PostForm>
          )}
        </header>
        <main>
          {ctx.flash ? <FlashBox flash={ctx.flash} /> : null}
          {children}
        </main>
      </body>
    </html>
  );
};

const FlashBox: FC<{ flash: Flash }> = ({ flash }) => (
  <div class={`flash ${flash.kind}`} role="status">
    {flash.message}
    {flash.secret !== undefined ? <code id="new-secret">{flash.secret}</code> : null}
  </div>
);

/** A POST form with the session's CSRF token; `confirm` asks before sending (client.ts). */
export const PostForm: FC<PropsWithChildren<{ ctx: PageContext; action: string; confirm?: string; inline?: boolean; id?: string }>> = ({
  ctx,
  action,
  confirm,
  inline = true,
  id,
  children,
}) => (
  <form method="post" action={action} class={inline ? "inline" : undefined} data-confirm={confirm} id={id}>
    <input type="hidden" name="_csrf" value={ctx.csrf} />
    {children}
  </form>
);

/** A number the live feed updates: `values[key]` of the page's model. */
export const Live: FC<{ values: Record<string, string>; k: string; class?: string }> = ({ values, k, class: className }) => (
  <span data-k={k} class={className}>
    {values[k] ?? ""}
  </span>
);

/** A time (ms since the epoch), shown in the browser's time zone by client.ts; UTC until then. */
export const Time: FC<{ ms: number }> = ({ ms }) => {
  const iso = new Date(ms).toISOString();
  return <time datetime={iso}>{`${iso.slice(0, 19).replace("T", " ")} UTC`}</time>;
};

export const Badge: FC<{ kind: string; text?: string; k?: string }> = ({ kind, text, k }) => (
  <span class={`badge ${kind}`} data-k={k} data-badge={k === undefined ? undefined : "1"}>
    {text ?? kind}
  </span>
);

/** A JSON data block for the client (not a script: the policy runs none inline). `<` is escaped so no value can end the element. */
export function jsonBlock(id: string, value: unknown): Child {
  return <script type="application/json" id={id} dangerouslySetInnerHTML={{ __html: JSON.stringify(value).replace(/</g, "\\u003c") }}></script>;
}
