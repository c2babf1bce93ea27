/**
 * Test support: a browser as plain HTTP sees it (undici, no JavaScript),
 * for the dashboard's tests: it keeps the session cookie, sends forms with
 * the headers a page of the same origin sends, and reads a page's CSRF
 * token. (test/support/browser.ts drives a real Chromium instead.)
 */
import assert from "node:assert/strict";
import type { Response } from "undici";
import { request } from "./platform.js";

/**
 * A browser's view of one origin: its cookie, and the headers a same-origin
 * form post carries. `base` may change (the same browser reaching another
 * node of a cluster behind one name: the cookie goes along, as a browser's
 * would to any port of the host).
 */
export class Browser {
  cookie: string | undefined;
  constructor(public base: string) {}

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.keep(await request(`${this.base}${path}`, { headers: { ...this.cookies(), ...headers } }));
  }

  /** A form post from a page of this origin, unless `headers` say otherwise. */
  async post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    const sameOrigin = { origin: this.base, "sec-fetch-site": "same-origin", "content-type": "application/x-www-form-urlencoded" };
    return this.keep(await request(`${this.base}${path}`, { method: "POST", headers: { ...sameOrigin, ...this.cookies(), ...headers }, body: new URLSearchParams(form).toString() }));
  }

  async signIn(token: string): Promise<Response> {
    return this.post("/login", { token });
  }

  /** The CSRF token of a page (every signed-in page carries it). */
  async csrf(path: string): Promise<string> {
    const html = await (await this.get(path)).text();
    const match = /data-csrf="([^"]+)"/.exec(html);
    assert.ok(match, `no CSRF token on ${path}: ${html.slice(0, 300)}`);
    return match[1]!;
  }

  private cookies(): Record<string, string> {
    return this.cookie ? { cookie: this.cookie } : {};
  }

  private keep(response: Response): Response {
    const set = response.headers.get("set-cookie");
    if (set) this.cookie = /Max-Age=0/.test(set) ? undefined : set.split(";")[0];
    return response;
  }
}
