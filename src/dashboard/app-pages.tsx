/**
 * The live pages: the apps of a workspace, one app (its versions, with
 * rollback, and stop), and one function (its containers, numbers and
 * charts of the last hour). Each page is split into regions the live feed
 * can send again when the page's shape changes (`regionsOf`).
 */
import type { FC } from "hono/jsx";
import { BUCKET_MS, type ContainerFailure } from "../metrics/history.js";
import { appPath, Badge, base, functionPath, jsonBlock, Layout, Live, PostForm, Time, type PageContext } from "./layout.js";
import { logsPath } from "./logs-page.js";
import { functionKey, type AppModel, type AppRow, type AppsModel, type FunctionModel, type FunctionRow } from "./model.js";

/** The live feed's address for a page (`data-live`). */
export function feedPath(workspace: string, view: string, params: Record<string, string> = {}): string {
  const query = new URLSearchParams({ view, ...params });
  return `${base(workspace)}/events?${query}`;
}

export const AppsPage: FC<{ ctx: PageContext; model: AppsModel; shape: string }> = ({ ctx, model, shape }) => (
  <Layout ctx={ctx} title="Apps" section="apps" live={`${feedPath(ctx.workspace, "apps")}&shape=${shape}`}>
    <h1>
      Apps <span class="sub">workspace {ctx.workspace}</span>
    </h1>
    <div data-region="apps">
      <AppsTable ctx={ctx} model={model} />
    </div>
  </Layout>
);

const AppsTable: FC<{ ctx: PageContext; model: AppsModel }> = ({ ctx, model }) =>
  model.apps.length === 0 ? (
    <p class="muted">
      No apps in workspace {ctx.workspace} yet. Deploy one: <code>npx berth deploy app.ts</code>
    </p>
  ) : (
    <table id="apps">
      <thead>
        <tr>
          <th>App</th>
          <th>Function</th>
          <th>Kind</th>
          <th class="num">Version</th>
          <th>State</th>
          <th class="num">Requests/min</th>
          <th class="num">Errors</th>
          <th class="num">p50</th>
          <th class="num">p99</th>
          <th>Containers</th>
        </tr>
      </thead>
      <tbody>{model.apps.flatMap((app) => appRows(ctx, model.values, app))}</tbody>
    </table>
  );

function appRows(ctx: PageContext, values: Record<string, string>, app: AppRow) {
  const name = (
    <td rowspan={Math.max(1, app.rows.length)}>
      <a href={appPath(ctx.workspace, app.name, app.ephemeral)} data-app={app.name}>
        {app.name}
      </a>{" "}
      {app.ephemeral ? <Badge kind="dev" text="berth serve" /> : null}
    </td>
  );
  const meta = [
    <td class="num" rowspan={Math.max(1, app.rows.length)} data-version={app.name}>
      {app.version ?? "–"}
    </td>,
    <td rowspan={Math.max(1, app.rows.length)}>
      <Badge kind={app.state} />
    </td>,
  ];
  if (app.rows.length === 0) {
    return [
      <tr>
        {name}
        <td class="muted" colspan={2}>
          no functions served
        </td>
        {meta}
        <td colspan={5}></td>
      </tr>,
    ];
  }
  return app.rows.map((row, i) => {
    const key = functionKey(app.name, app.ephemeral, row.name);
    return (
      <tr>
        {i === 0 ? name : null}
        <td>
          <a href={functionPath(ctx.workspace, app.name, app.ephemeral, row.name)}>{row.name}</a>
          <div class="sub">
            <a href={row.url} class="mono">
              {row.url}
            </a>
          </div>
        </td>
        <td>{row.kind}</td>
        {i === 0 ? meta : null}
        <td class="num">
          <Live values={values} k={`${key}|rpm`} />
        </td>
        <td class="num">
          <Live values={values} k={`${key}|err`} />
        </td>
        <td class="num">
          <Live values={values} k={`${key}|p50`} />
        </td>
        <td class="num">
          <Live values={values} k={`${key}|p99`} />
        </td>
        <td>
          <Live values={values} k={`${key}|containers`} />
        </td>
      </tr>
    );
  });
}

export const AppPage: FC<{ ctx: PageContext; model: AppModel; shape: string }> = ({ ctx, model, shape }) => {
  const { app } = model;
  const params = { app: app.name, ...(app.ephemeral ? { dev: "1" } : {}) };
  return (
    <Layout ctx={ctx} title={app.name} section="apps" live={`${feedPath(ctx.workspace, "app", params)}&shape=${shape}`}>
      <h1>
        <a href={`${base(ctx.workspace)}/`}>Apps</a> / {app.name} {app.ephemeral ? <Badge kind="dev" text="berth serve" /> : null}
      </h1>
      <div data-region="app">
        <AppSummaryBlock ctx={ctx} model={model} />
      </div>
    </Layout>
  );
};

const AppSummaryBlock: FC<{ ctx: PageContext; model: AppModel }> = ({ ctx, model }) => {
  const { app, versions } = model;
  return (
    <div>
      <p>
        <Badge kind={app.state} /> version <strong id="current-version">{app.version ?? "–"}</strong> · updated <Time ms={app.updatedAt} /> ·{" "}
        <a href={logsPath(ctx.workspace, app.name, app.ephemeral, {})}>Logs</a>{" "}
        {app.state === "deployed" ? (
          <PostForm ctx={ctx} action={appPath(ctx.workspace, app.name, app.ephemeral, "/stop")} confirm={`Stop ${app.name}? Its URLs stop answering at once.`}>
            <button class="danger" type="submit" id="stop">
              Stop
            </button>
          </PostForm>
        ) : null}
      </p>
      <h2>Functions</h2>
      {app.rows.length === 0 ? <p class="muted">The app is stopped: no function answers.</p> : <FunctionTable ctx={ctx} app={app} values={model.values} />}
      <h2>Versions</h2>
      <table id="versions">
        <thead>
          <tr>
            <th class="num">Version</th>
            <th>Deployed</th>
            <th>By</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {[...versions].reverse().map((v) => (
            <tr data-version-row={v.number}>
              <td class="num">{v.number}</td>
              <td>
                <Time ms={v.createdAt} />
              </td>
              <td>{v.deployedBy || <span class="muted">unknown</span>}</td>
              <td>
                {v.current ? (
                  <Badge kind="ready" text="current" />
                ) : app.ephemeral ? null : (
                  <PostForm
                    ctx={ctx}
                    action={appPath(ctx.workspace, app.name, false, "/rollback")}
                    confirm={`Roll ${app.name} back to version ${v.number}? It is deployed again as a new version.`}
                  >
                    <input type="hidden" name="version" value={String(v.number)} />
                    <button type="submit" data-rollback={v.number}>
                      Roll back to {v.number}
                    </button>
                  </PostForm>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
};

const FunctionTable: FC<{ ctx: PageContext; app: AppRow; values: Record<string, string> }> = ({ ctx, app, values }) => (
  <table>
    <thead>
      <tr>
        <th>Function</th>
        <th>Kind</th>
        <th class="num">Requests/min</th>
        <th class="num">Errors</th>
        <th class="num">p50</th>
        <th class="num">p99</th>
        <th class="num">In flight</th>
        <th class="num">Queued</th>
        <th>Containers</th>
      </tr>
    </thead>
    <tbody>
      {app.rows.map((row: FunctionRow) => {
        const key = functionKey(app.name, app.ephemeral, row.name);
        return (
          <tr>
            <td>
              <a href={functionPath(ctx.workspace, app.name, app.ephemeral, row.name)}>{row.name}</a>
              <div class="sub">
                <a class="mono" href={row.url}>
                  {row.url}
                </a>
              </div>
            </td>
            <td>{row.kind}</td>
            {(["rpm", "err", "p50", "p99", "inflight", "queued"] as const).map((field) => (
              <td class="num">
                <Live values={values} k={`${key}|${field}`} />
              </td>
            ))}
            <td>
              <Live values={values} k={`${key}|containers`} />
            </td>
          </tr>
        );
      })}
    </tbody>
  </table>
);

export const FunctionPage: FC<{ ctx: PageContext; model: FunctionModel; shape: string }> = ({ ctx, model, shape }) => {
  const { app, row } = model;
  const params = { app: app.name, fn: row.name, ...(app.ephemeral ? { dev: "1" } : {}) };
  const series = model.history?.series() ?? null;
  return (
    <Layout ctx={ctx} title={`${app.name}.${row.name}`} section="apps" charts live={`${feedPath(ctx.workspace, "function", params)}&shape=${shape}`}>
      <h1>
        <a href={`${base(ctx.workspace)}/`}>Apps</a> / <a href={appPath(ctx.workspace, app.name, app.ephemeral)}>{app.name}</a> / {row.name}
      </h1>
      <p class="sub">
        {row.kind} ·{" "}
        <a class="mono" href={row.url}>
          {row.url}
        </a>{" "}
        · <a href={logsPath(ctx.workspace, app.name, app.ephemeral, { function: row.name })}>Logs</a>
      </p>
      <FunctionCards model={model} />
      <div data-region="containers">
        <ContainersBlock model={model} />
      </div>
      <h2>Last hour</h2>
      <div class="charts" id="charts" data-bucket-ms={String(BUCKET_MS)}>
        {CHARTS.map(([id, title]) => (
          <div class="chart">
            <h3>{title}</h3>
            <div data-chart={id}></div>
          </div>
        ))}
      </div>
      {jsonBlock("history", series)}
    </Layout>
  );
};

/** The charts of the function page: id (client.ts draws each from the history's fields) and title. */
const CHARTS = [
  ["requests", "Requests/s by status"],
  ["latency", "Latency p50 / p99 (ms)"],
  ["queue", "Queue wait p50 / p99 (ms)"],
  ["coldstart", "Cold start (ms, mean per 10 s)"],
  ["containers", "Containers"],
] as const;

const FunctionCards: FC<{ model: FunctionModel }> = ({ model }) => {
  const key = functionKey(model.app.name, model.app.ephemeral, model.row.name);
  const card = (field: string, label: string) => (
    <div class="card">
      <div class="v">
        <Live values={model.values} k={`${key}|${field}`} />
      </div>
      <div class="k">{label}</div>
    </div>
  );
  return (
    <div class="cards">
      {card("total", "requests (since start)")}
      {card("rpm", "requests/min")}
      {card("err", "5xx")}
      {card("p50", "p50")}
      {card("p99", "p99")}
      {card("inflight", "in flight")}
      {card("queued", "queued")}
      {card("cold", "cold starts")}
      {card("failures", "start failures")}
      {card("crashes", "crashes")}
    </div>
  );
};

const FAILURE_KINDS: Record<ContainerFailure["kind"], string> = { start: "start failed", crash: "crashed", unreachable: "unreachable" };

const ContainersBlock: FC<{ model: FunctionModel }> = ({ model }) => {
  const key = functionKey(model.app.name, model.app.ephemeral, model.row.name);
  const rows = model.services.flatMap((service) =>
    service.containers.map((c) => {
      const at = `${key}|c|${c.id}`;
      return (
        <tr data-container={c.id}>
          <td class="mono">{c.id}</td>
          <td>
            <Badge kind={c.state} k={`${at}|state`} />
          </td>
          <td class="num">
            <Live values={model.values} k={`${at}|inflight`} />
          </td>
          <td class="num">
            <Live values={model.values} k={`${at}|age`} />
          </td>
          <td class="num">
            <Live values={model.values} k={`${at}|idle`} />
          </td>
          <td>
            {service.draining ? <span class="muted">old version {service.version ?? service.versionId.slice(0, 8)}, draining</span> : "current"}
          </td>
          <td class="mono">{c.params}</td>
        </tr>
      );
    }),
  );
  return (
    <div>
      <h2>Containers</h2>
      {rows.length === 0 ? (
        <p class="muted" id="no-containers">
          No container is running: the next request starts one.
        </p>
      ) : (
        <table id="containers">
          <thead>
            <tr>
              <th>Container</th>
              <th>State</th>
              <th class="num">In flight</th>
              <th class="num">Age</th>
              <th class="num">Idle</th>
              <th>Version</th>
              <th>Params</th>
            </tr>
          </thead>
          <tbody>{rows}</tbody>
        </table>
      )}
      <p class="err">
        <Live values={model.values} k={`${key}|lasterror`} />
      </p>
      {model.failures.length > 0 ? (
        <div>
          <h2>Recent failures</h2>
          <table id="failures">
            <tbody>
              {[...model.failures].reverse().map((f) => (
                <tr data-failure={f.kind}>
                  <td>
                    <Time ms={f.time} />
                  </td>
                  <td>{FAILURE_KINDS[f.kind]}</td>
                  <td class="err">{f.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
};

/** A live page and its model. */
export type LiveView = { view: "apps"; model: AppsModel } | { view: "app"; model: AppModel } | { view: "function"; model: FunctionModel };

/** The regions of a live page, rendered again when its shape changed. */
export function regionsOf(ctx: PageContext, page: LiveView): Record<string, string> {
  if (page.view === "apps") return { apps: String(<AppsTable ctx={ctx} model={page.model} />) };
  if (page.view === "app") return { app: String(<AppSummaryBlock ctx={ctx} model={page.model} />) };
  return { containers: String(<ContainersBlock model={page.model} />) };
}
