/**
 * The `berth` command line. Thin: every verb talks to the control API
 * (see client.ts); `serve` and `server` also start a platform in-process.
 */
import { Command } from "commander";
import {
  appListCommand,
  appLogsCommand,
  appRollbackCommand,
  appStatsCommand,
  appStopCommand,
  deployCommand,
  serverCommand,
} from "./commands.js";
import { serveCommand } from "./serve.js";

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name("berth")
    .description("Self-hosted serverless web endpoints for TypeScript")
    .showHelpAfterError();

  const clientOptions = (command: Command) =>
    command
      .option("--server <url>", "berth server to talk to (env BERTH_SERVER; default http://localhost:8600)")
      .option("--workspace <name>", "workspace (env BERTH_WORKSPACE; default: the server's)");

  program
    .command("serve")
    .description("run an app ephemerally with live reload (-dev URLs); Ctrl-C removes it")
    .argument("<file>", "the app's TypeScript file")
    .option("--port <port>", "port of the embedded platform (default 8600)")
    .option("--server <url>", "serve on this berth server instead of an embedded one (env BERTH_SERVER)")
    .option("--workspace <name>", "workspace (env BERTH_WORKSPACE)")
    .option("--home <dir>", "state directory for images and bundles (env BERTH_HOME; default ~/.berth)")
    .option("--no-typecheck", "skip the TypeScript type check")
    .action(serveCommand);

  program
    .command("server")
    .description("run the platform: gateway, control API and containers on one port")
    .option("--port <port>", "port to listen on (default 8600)")
    .option("--host <address>", "address to bind (default 127.0.0.1)")
    .option("--home <dir>", "state directory (env BERTH_HOME; default ~/.berth)")
    .option("--domain <domain>", "base domain of endpoint URLs (default localhost)")
    .option("--workspace <name>", "default workspace (default local)")
    .option("--queue-limit <n>", "requests allowed to wait per function before 503 (default 1000)")
    .option("--call-delay <seconds>", "seconds without a response before a call is answered 303 to its result URL (default 150)")
    .action(serverCommand);

  clientOptions(
    program
      .command("deploy")
      .description("deploy an app to a berth server; its URLs persist across restarts")
      .argument("<file>", "the app's TypeScript file")
      .option("--no-typecheck", "skip the TypeScript type check"),
  ).action(deployCommand);

  const app = program.command("app").description("manage deployed apps");
  clientOptions(app.command("list").description("list apps and their URLs").option("--json", "print JSON")).action(appListCommand);
  const dev = "the app `berth serve` runs, not the deployed app of that name";
  clientOptions(
    app
      .command("rollback")
      .description("redeploy an earlier version as a new version (default: the one before the current)")
      .argument("<name>")
      .option("--version <n>", "the version to go back to"),
  ).action(appRollbackCommand);
  clientOptions(app.command("stop").description("stop an app; its containers drain").argument("<name>").option("--dev", dev)).action(
    appStopCommand,
  );
  clientOptions(
    app
      .command("logs")
      .description("print an app's recent logs")
      .argument("<name>")
      .option("-f, --follow", "keep following")
      .option("--dev", dev),
  ).action(appLogsCommand);
  clientOptions(
    app
      .command("stats")
      .description("containers by state, in-flight and queued inputs, cold starts and p50/p99 latency per function")
      .argument("<name>")
      .option("--dev", dev)
      .option("--json", "print JSON")
      .option("-w, --watch [seconds]", "print again every few seconds (default 2) until Ctrl-C"),
  ).action(appStatsCommand);

  await program.parseAsync(argv);
}
