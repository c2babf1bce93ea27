/**
 * An app's log page: the newest lines that match its filters (function,
 * container, request id, level), then every new one as it is written (the
 * live feed sends rows rendered here). An access line links to its
 * request: a click shows that request's lines alone. Every line is
 * container output, so it is only ever text here (JSX escapes it).
 */
import type { FC } from "hono/jsx";
import type { AppSummary, LogEntry, LogStream } from "../wire/control-api.js";
import { appPath, base, Layout, type PageContext } from "./layout.js";

/** The filters of a log page, as its query string carries them. */
export interface LogFilters {
  function?: string;
  container?: string;
  request?: string;
  /** Which stream: the page calls it the level. */
  stream?: LogStream;
}

/** The levels offered, by the stream they select. */
const LEVELS: [LogStream, string][] = [
  ["stdout", "output (stdout)"],
  ["stderr", "errors (stderr)"],
  ["system", "platform (container events)"],
  ["access", "requests (access lines)"],
];

export function isStream(value: string | undefined): value is LogStream {
  return LEVELS.some(([stream]) => stream === value);
}

/** The log page's address with these filters. */
export function logsPath(workspace: string, app: string, dev: boolean, filters: LogFilters): string {
  const query = new URLSearchParams();
  if (dev) query.set("dev", "1");
  for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
  const text = query.toString();
  return `${appPath(workspace, app, false, "/logs")}${text ? `?${text}` : ""}`;
}

export const LogsPage: FC<{
  ctx: PageContext;
  app: AppSummary;
  filters: LogFilters;
  entries: LogEntry[];
  error?: string;
  live?: string;
}> = ({ ctx, app, filters, entries, error, live }) => {
  const here = (more: LogFilters) => logsPath(ctx.workspace, app.name, app.ephemeral, more);
  return (
    <Layout ctx={ctx} title={`${app.name} logs`} section="apps" live={live}>
      <h1>
        <a href={`${base(ctx.workspace)}/`}>Apps</a> / <a href={appPath(ctx.workspace, app.name, app.ephemeral)}>{app.name}</a> / logs
      </h1>
      <form method="get" action={appPath(ctx.workspace, app.name, false, "/logs")} class="filters" id="log-filters">
        {app.ephemeral ? <input type="hidden" name="dev" value="1" /> : null}
        <label>
          Function
          <select name="function">
            <option value="">all</option>
            {app.functions.map((fn) => (
              <option value={fn.name} selected={fn.name === filters.function}>
                {fn.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Container
          <input name="container" value={filters.container ?? ""} size={10} placeholder="any" />
        </label>
        <label>
          Request id
          <input name="request" value={filters.request ?? ""} size={18} placeholder="any" />
        </label>
        <label>
          Level
          <select name="stream">
            <option value="">all</option>
            {LEVELS.map(([stream, label]) => (
              <option value={stream} selected={stream === filters.stream}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Filter</button>
        <a href={here({})}>Clear</a>
      </form>
      {error ? <p class="flash error">{error}</p> : null}
      <div class="logs" id="log-lines">
        {entries.length === 0 ? <div class="empty">No matching lines yet; new ones appear here as they are written.</div> : <LogRows workspace={ctx.workspace} app={app.name} dev={app.ephemeral} entries={entries} />}
      </div>
    </Layout>
  );
};

/** Rows of log lines; the live feed sends more of them. */
export const LogRows: FC<{ workspace: string; app: string; dev: boolean; entries: LogEntry[] }> = ({ workspace, app, dev, entries }) => {
  const here = (more: LogFilters) => logsPath(workspace, app, dev, more);
  return (
    <>
      {entries.map((entry) => {
        const time = new Date(entry.time).toISOString();
        const request = entry.requestId;
        return (
          <div class={`l ${entry.stream}`} data-request={request}>
            <span class="t">
              <time datetime={time} data-clock="1">
                {time.slice(11, 23)}
              </time>
            </span>
            <span class="f">{entry.function}</span>
            <span class="c">{entry.container ? <a href={here({ container: entry.container })}>{entry.container}</a> : null}</span>
            <span class="c">{request ? <a href={here({ request })}>{request}</a> : null}</span>
            <span class="m">
              {entry.stream === "access" && request ? (
                <a href={here({ request })} class="access" title="this request's lines">
                  {entry.line}
                </a>
              ) : (
                entry.line
              )}
              {entry.continued ? " …" : ""}
            </span>
          </div>
        );
      })}
    </>
  );
};
