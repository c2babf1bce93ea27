/**
 * The `berth` command line. Thin: every verb talks to the control API
 * (see client.ts); `serve` and `server` also start a platform in-process.
 * Each verb's module is imported only when that verb runs, so `--help`,
 * `--version` and `app list` never load TypeScript, esbuild or the server.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { PACKAGE_ROOT } from "../paths.js";

/** An action whose module is imported when the command runs. */
function lazy<M, A extends unknown[]>(load: () => Promise<M>, pick: (module: M) => (...args: A) => Promise<void>) {
  return async (...args: A) => pick(await load())(...args);
}
const commands = () => import("./commands.js");
const security = () => import("./security-commands.js");
const images = () => import("./image-commands.js");

function version(): string {
  const manifest: unknown = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8"));
  return typeof manifest === "object" && manifest !== null && "version" in manifest ? String(manifest.version) : "unknown";
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name("berth")
    .description("Self-hosted serverless web endpoints for TypeScript")
    .version(version(), "-v, --version", "print berth's version")
    .showHelpAfterError();

  const clientOptions = (command: Command) =>
    command
      .option("--server <url>", "berth server to talk to (env BERTH_SERVER; default http://localhost:8600)")
      .option("--workspace <name>", "workspace (env BERTH_WORKSPACE; default: the token's)")
      .option("--token <token>", "API token (env BERTH_TOKEN; default: the one `berth login` saved)");

  program
    .command("init")
    .description("create a project: an app, its test, a strict tsconfig, a package.json")
    .argument("<dir>", "the new project's directory; its name names the app")
    .action(lazy(() => import("./init.js"), (m) => m.initCommand));

  program
    .command("serve")
    .description("run an app ephemerally with live reload (-dev URLs); Ctrl-C removes it")
    .argument("<file>", "the app's TypeScript file")
    .option("--port <port>", "port of the embedded platform (default 8600)")
    .option("--server <url>", "serve on this berth server instead of an embedded one (env BERTH_SERVER)")
    .option("--workspace <name>", "workspace (env BERTH_WORKSPACE)")
    .option("--token <token>", "API token for --server (env BERTH_TOKEN)")
    .option("--home <dir>", "state directory for images and bundles (env BERTH_HOME; default ~/.berth)")
    .option("--runtime <name>", "sandbox or process (default: sandbox where bubblewrap is installed, else process)")
    .option("--image-cache <dir>", "where sandbox images are kept (env BERTH_IMAGE_CACHE; default /var/lib/berth/images)")
    .option("--typecheck <mode>", "off, warn (serve at once, report type errors when the check ends) or block (serve only code that type-checks)", "warn")
    .option("--no-typecheck", "same as --typecheck=off")
    .option("--grace <seconds>", "on Ctrl-C, seconds requests in flight get to finish before the app goes (default 30)")
    .action(lazy(() => import("./serve.js"), (m) => m.serveCommand));

  program
    .command("server")
    .description("run the platform: gateway, control API and containers on one port")
    .option("--port <port>", "port to listen on (default 8600)")
    .option("--host <address>", "address to bind (default 127.0.0.1)")
    .option("--home <dir>", "state directory (env BERTH_HOME; default ~/.berth)")
    .option("--domain <domain>", "base domain of endpoint URLs (default localhost)")
    .option("--public-url <url>", "where clients reach this server, e.g. https://fns.example.com behind a proxy: URLs become https://<ws>--<label>.fns.example.com/")
    .option("--tls-cert <file>", "serve HTTPS with this certificate (PEM; with --tls-key)")
    .option("--tls-key <file>", "the certificate's private key (PEM)")
    .option("--workspace <name>", "default workspace (default local)")
    .option("--queue-limit <n>", "requests allowed to wait per function before 503 (default 1000)")
    .option("--call-delay <seconds>", "seconds without a response before a call is answered 303 to its result URL (default 150)")
    .option("--trust-proxy <addresses>", "comma-separated proxy addresses/CIDRs whose X-Forwarded-* headers are trusted")
    .option("--rate-limit <n>", "requests/s per workspace without its own limit (default 200)")
    .option("--burst <n>", "burst per workspace (default 5 s worth: 1000)")
    .option("--max-body <size>", "largest request body, e.g. 4GiB, 100MiB (default 4GiB)")
    .option("--client-rate-limit <n>", "requests/s one client address may send a workspace's public endpoints (default: a quarter of the workspace's)")
    .option("--client-burst <n>", "burst of one client address (default 5 s worth)")
    .option("--failed-auth-limit <n>", "failed authentications per second per client address, burst 10x (default 10)")
    .option("--max-containers <n>", "live containers on the whole server; beyond, requests wait (default 64)")
    .option("--capacity-wait <seconds>", "seconds a request waits for a container at the cap before 503 at_capacity (default 30)")
    .option("--body-timeout <seconds>", "seconds a request body has to arrive once it holds a container, plus 1 s per --body-min-rate bytes (default 60)")
    .option("--body-min-rate <size>", "bytes per second a slow body must keep up past --body-timeout (default 16KiB)")
    .option("--public-metrics", "serve /metrics without a token")
    .option("--secret-key-file <path>", "key that encrypts secrets, kept apart from the database (env BERTH_SECRET_KEY_FILE; default <home>/secrets.key)")
    .option("--runtime <name>", "sandbox (isolated containers; the default) or process (one trusted user, no isolation)")
    .option("--image-cache <dir>", "where sandbox images are kept (env BERTH_IMAGE_CACHE; default /var/lib/berth/images)")
    .option("--build-ca-file <path>", "extra CA certificates for image build steps, behind a TLS-intercepting proxy (env BERTH_BUILD_CA_FILE, else NODE_EXTRA_CA_CERTS)")
    .option("--log-level <level>", "server log: fatal, error, warn, info, debug, trace or silent (env BERTH_LOG_LEVEL; default info)")
    .option("--grace <seconds>", "on SIGTERM or Ctrl-C, seconds requests in flight get to finish before they are cut (default 30)")
    .option("--keep-versions <n>", "versions per app whose bundles are kept for rollbacks (default 10)")
    .option("--app-log-size <size>", "log kept per app under <home>/logs, oldest lines dropped first, e.g. 64MiB (default 16MiB)")
    .option("--no-access-log", "no access line per request in the apps' logs")
    .option("--database <url>", "keep the state in PostgreSQL, shared with every node that names it (env BERTH_DATABASE_URL; default SQLite in --home)")
    .option("--node-id <id>", "this node's name among the nodes (env BERTH_NODE_ID; default: made on first start, kept in --home)")
    .option("--advertise-url <url>", "where the other nodes reach this one (env BERTH_ADVERTISE_URL; default http://<host>:<port>)")
    .action(lazy(commands, (m) => m.serverCommand));

  clientOptions(
    program
      .command("deploy")
      .description("deploy an app to a berth server; its URLs persist across restarts")
      .argument("<file>", "the app's TypeScript file")
      .option("--typecheck <mode>", "block (refuse to deploy code with type errors), warn (deploy, then report them) or off", "block")
      .option("--no-typecheck", "same as --typecheck=off"),
  ).action(lazy(commands, (m) => m.deployCommand));

  const app = program.command("app").description("manage deployed apps");
  clientOptions(app.command("list").description("list apps and their URLs").option("--json", "print JSON")).action(lazy(commands, (m) => m.appListCommand));
  const dev = "the app `berth serve` runs, not the deployed app of that name";
  clientOptions(
    app
      .command("rollback")
      .description("redeploy an earlier version as a new version (default: the one before the current)")
      .argument("<name>")
      .option("--version <n>", "the version to go back to"),
  ).action(lazy(commands, (m) => m.appRollbackCommand));
  clientOptions(app.command("stop").description("stop an app; its containers drain").argument("<name>").option("--dev", dev)).action(
    lazy(commands, (m) => m.appStopCommand),
  );
  clientOptions(
    app
      .command("logs")
      .description("print an app's log: its containers' output and an access line per request (default: the last 100 lines)")
      .argument("<name>")
      .option("-f, --follow", "keep printing new lines until Ctrl-C")
      .option("--since <time>", "lines since a time: 30s, 10m, 2h, 1d ago, or a date and time (2025-06-01T14:00)")
      .option("--tail <n>", "the last n lines (at most 5000)")
      .option("--function <name>", "only this function's lines")
      .option("--request <id>", "only the lines of one request (its berth-request-id)")
      .option("--json", "one JSON object per line, with every field")
      .option("--dev", dev),
  ).action(lazy(commands, (m) => m.appLogsCommand));
  clientOptions(
    app
      .command("versions")
      .description("list an app's versions: when, bundle hash and who deployed each (* marks the current one)")
      .argument("<name>")
      .option("--json", "print JSON")
      .option("--dev", dev),
  ).action(lazy(commands, (m) => m.appVersionsCommand));
  clientOptions(
    app
      .command("stats")
      .description("containers by state, in-flight and queued inputs, cold starts and p50/p99 latency per function")
      .argument("<name>")
      .option("--dev", dev)
      .option("--json", "print JSON")
      .option("-w, --watch [seconds]", "print again every few seconds (default 2) until Ctrl-C"),
  ).action(lazy(commands, (m) => m.appStatsCommand));

  const node = program.command("node").description("the nodes sharing one database");
  clientOptions(node.command("list").description("every node with its state and load (admin token)").option("--json", "print JSON")).action(
    lazy(commands, (m) => m.nodeListCommand),
  );

  const image = program.command("image").description("the server's image cache");
  clientOptions(image.command("list").description("images, their size, layers and the apps using them (admin)").option("--json", "print JSON")).action(
    lazy(images, (m) => m.imageListCommand),
  );
  clientOptions(
    image
      .command("prune")
      .description("remove images no running app version uses (admin)")
      .option("--all", "also remove the Debian and Node base layers (rebuilt on the next deploy)"),
  ).action(lazy(images, (m) => m.imagePruneCommand));
  clientOptions(
    image
      .command("export")
      .description("write a function's image as an OCI image layout (for registries and Kubernetes)")
      .argument("<app>")
      .argument("<function>")
      .argument("<dir>", "a new or empty directory")
      .option("--dev", dev),
  ).action(lazy(images, (m) => m.imageExportCommand));

  const token = program.command("token").description("API tokens (control API, deploy) and proxy-auth tokens (protected endpoints)");
  // Token and secret verbs also work on a state directory directly (no server configured or running, or --home).
  const localOptions = (command: Command) =>
    clientOptions(command).option("--home <dir>", "work in this state directory instead of a server (default without a server: BERTH_HOME or ~/.berth)");
  localOptions(
    token
      .command("create")
      .description("issue a token; its secret is shown once")
      .option("--proxy", "a proxy-auth token (Berth-Key wk-... / Berth-Secret ws-...) instead of an API token")
      .option("--admin", "an admin API token: acts on every workspace (needs an admin token)")
      .option("--name <text>", "a note shown by `token list`")
      .option("--json", "print JSON"),
  ).action(lazy(security, (m) => m.tokenCreateCommand));
  localOptions(
    token.command("list").description("list tokens (never their secrets)").option("--all", "every workspace (admin)").option("--json", "print JSON"),
  ).action(lazy(security, (m) => m.tokenListCommand));
  localOptions(token.command("revoke").description("revoke a token at once").argument("<id>", "bt_... or wk-...")).action(lazy(security, (m) => m.tokenRevokeCommand));

  clientOptions(
    program.command("login").description("check a token against a server and save both for later commands (mode 0600)"),
  ).action(lazy(security, (m) => m.loginCommand));

  const secret = program.command("secret").description("secrets: environment variables injected into the functions that name them");
  localOptions(
    secret
      .command("create")
      .description("create or replace a secret")
      .argument("<name>")
      .argument("[pairs...]", "KEY=VALUE pairs")
      .option("--from-dotenv <file>", "read KEY=VALUE lines from a .env file (- for standard input)"),
  ).action(lazy(security, (m) => m.secretCreateCommand));
  localOptions(secret.command("list").description("secret names and key names (never values)").option("--json", "print JSON")).action(
    lazy(security, (m) => m.secretListCommand),
  );
  localOptions(secret.command("delete").description("delete a secret").argument("<name>")).action(lazy(security, (m) => m.secretDeleteCommand));

  const workspace = program.command("workspace").description("workspace settings");
  clientOptions(
    workspace
      .command("limit")
      .description("show a workspace's limits, or change them (admin token); `default` returns one to the server's")
      .argument("<name>")
      .option("--rate <n>", "requests per second, all clients together")
      .option("--burst <n>", "requests at once from a full bucket (default 5 s worth)")
      .option("--client-rate <n>", "requests per second from one client address to public endpoints")
      .option("--client-burst <n>", "requests at once from one client address (default 5 s worth)")
      .option("--containers <n>", "live containers the workspace may have at once"),
  ).action(lazy(security, (m) => m.workspaceLimitCommand));

  await program.parseAsync(argv);
}
