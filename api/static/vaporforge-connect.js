/**
 * vaporforge-connect.js: the browser side of the VaporForge login broker.
 *
 *   import { connect, getAccessToken } from "https://broker.example/static/vaporforge-connect.js";
 *
 * connect({baseUrl, mode, ticket, getTicket, onUrl, onState, signal}) -> Promise<credentials>
 *   Runs one login: makes an ephemeral P-256 key pair (private half not
 *   extractable), creates a session with the public JWK (and the connect ticket
 *   as `Authorization: Bearer`: `ticket`, or what `getTicket()` resolves to,
 *   asked once per call), polls at the pace the broker asks (while the tab is
 *   hidden, every 30 s: browsers throttle hidden timers to about once a minute,
 *   and the broker ends logins not polled for VF_IDLE_TIMEOUT), calls
 *   onUrl(url, login) with the sign-in address, and onState(state, {error,
 *   oauthUrl, login}) on every change. `login.submitCode(code)` passes the
 *   pasted code on, `login.cancel()` (or aborting `signal`) ends the CLI. When
 *   the session is ready it claims the sealed credentials, opens them here,
 *   stores them sealed (see sealed-store.js) with the claim's `refresh_grant`,
 *   and resolves with them. Rejects with a VaporForgeError (`code`, `message`).
 *   Without `mode`, the first mode the broker offers (getModes()).
 * fetchTicket(url) -> a ticket from the host app's backend: a same-origin POST
 *   (with its cookies) answered by {"ticket"}.
 * getModes({baseUrl}) -> the modes the broker offers (GET /api/auth/modes), the
 *   one to preselect first; fetched once per broker.
 *
 * The stored set and its refresh live in vaporforge-refresh.js; everything it
 * exports is exported here too: getCredentials(), getAccessToken(), refresh(),
 * disconnect(), onChange(callback), canRefresh(set), isDue(set),
 * REFRESH_MARGIN_MS. Keep the refresh token in the browser; hand sandboxes only
 * access tokens.
 */
import { compactDecrypt } from "./vendor/jose-6.2.18/jwe/compact/decrypt.js";
import { VaporForgeError, call, requireSecureContext } from "./vaporforge-http.js";
import { storeSet } from "./vaporforge-refresh.js";

export { VaporForgeError } from "./vaporforge-http.js";
export {
  REFRESH_MARGIN_MS, canRefresh, disconnect, getAccessToken, getCredentials, isDue, onChange,
  refresh,
} from "./vaporforge-refresh.js";

const DEFAULT_BASE = new URL("../", import.meta.url).href.replace(/\/$/, "");
// The broker's address without its trailing slashes, so paths can be appended.
const brokerBase = (baseUrl) => String(baseUrl).replace(/\/+$/, "");
// Well under a minute: a hidden tab's timers may fire up to a minute late, and
// the broker ends a login nobody polled for VF_IDLE_TIMEOUT (180 s by default).
export const HIDDEN_POLL_MS = 30_000;
const ENDED = { failed: "The sign-in failed.", expired: "The sign-in expired.",
  cancelled: "The sign-in was cancelled.", claimed: "The credentials were already handed out." };
const TRANSIENT = new Set(["network_error", "rate_limited", "unavailable", "http_error"]);

/** A connect ticket from the host's backend: POST `url` (same origin, with cookies) -> {ticket}. */
export async function fetchTicket(url) {
  const target = new URL(url, globalThis.document?.baseURI ?? globalThis.location?.href);
  if (target.origin !== globalThis.location?.origin) {
    throw new VaporForgeError("ticket_unavailable",
      "The ticket address must be on this page's own site.");
  }
  let response;
  try {
    response = await fetch(target, { method: "POST", credentials: "same-origin",
      cache: "no-store", headers: { Accept: "application/json" } });
  } catch {
    throw new VaporForgeError("ticket_unavailable", "This app could not be reached for a ticket.");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok || typeof data?.ticket !== "string" || !data.ticket) {
    throw new VaporForgeError("ticket_unavailable",
      `This app did not give a ticket to sign in with (it answered ${response.status}).`,
      response.status);
  }
  return data.ticket;
}

// --- the modes the broker offers (VF_MODES) ------------------------------------
const offered = new Map(); // broker base URL -> Promise<string[]>

export function getModes({ baseUrl = DEFAULT_BASE } = {}) {
  const base = brokerBase(baseUrl);
  if (!offered.has(base)) {
    const asked = call(`${base}/api/auth/modes`).then((body) => body.modes);
    asked.catch(() => offered.delete(base)); // ask again next time
    offered.set(base, asked);
  }
  return offered.get(base);
}

// --- one login -------------------------------------------------------------------
class Login {
  constructor(base, created) {
    this.url = `${base}/api/auth/sessions/${encodeURIComponent(created.session_id)}`;
    this.token = created.session_token;
    this.cancelled = false;
    this.ended = false;
    this.wake = null;
    this.epoch = 0;
    this.report = null;
  }

  /** Hands the pasted code to the CLI; rejects (e.g. validation_error) if the broker refuses. */
  async submitCode(code) {
    const answer = await call(`${this.url}/code`, { method: "POST", token: this.token,
      body: { code } });
    this.epoch += 1; // a poll sent before this code must not be taken as its answer
    this.report?.("verifying", { error: null, oauthUrl: null, login: this });
    return answer;
  }

  /** Ends the login and its CLI process (DELETE); connect() rejects with `cancelled`. */
  async cancel() {
    if (this.ended || this.cancelled) return;
    this.cancelled = true;
    this.wake?.();
    await call(this.url, { method: "DELETE", token: this.token }).catch(() => {});
  }

  /** For pagehide: a DELETE that outlives the page. */
  abandon() {
    if (this.ended || this.cancelled) return;
    this.cancelled = true;
    call(this.url, { method: "DELETE", token: this.token, keepalive: true }).catch(() => {});
  }

  // Waits `ms`, or HIDDEN_POLL_MS while the tab is hidden (slower, but often
  // enough that the broker does not end the login as abandoned); returns at once
  // on cancel, and as soon as the tab is shown again.
  pause(ms) {
    return new Promise((resolve) => {
      const doc = globalThis.document;
      let timer = null;
      const done = () => {
        clearTimeout(timer);
        doc?.removeEventListener("visibilitychange", seen);
        this.wake = null;
        resolve();
      };
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(done, doc?.hidden ? HIDDEN_POLL_MS : ms);
      };
      const seen = () => (doc.hidden ? arm() : done());
      this.wake = done;
      doc?.addEventListener("visibilitychange", seen);
      arm();
    });
  }
}

async function openSealed(claimed, privateKey) {
  if (typeof claimed?.jwe !== "string") {
    throw new VaporForgeError("not_sealed", "The broker sent credentials that were not sealed.");
  }
  try {
    const { plaintext } = await compactDecrypt(claimed.jwe, privateKey, {
      keyManagementAlgorithms: ["ECDH-ES"], contentEncryptionAlgorithms: ["A256GCM"] });
    const body = JSON.parse(new TextDecoder().decode(plaintext));
    const set = { mode: body.mode, credentials: body.credentials || {} };
    if (body.api_key) set.api_key = body.api_key;
    return set;
  } catch {
    throw new VaporForgeError("decrypt_failed",
      "The credentials could not be opened in this browser.");
  }
}

async function follow(login, first, { onUrl, onState }) {
  let status = first;
  let delay = first.poll_after_ms;
  let shownUrl = null;
  let misses = 0;
  for (;;) {
    await login.pause(delay);
    if (login.cancelled) throw new VaporForgeError("cancelled", ENDED.cancelled);
    const epoch = login.epoch;
    try {
      status = await call(login.url, { token: login.token });
      misses = 0;
    } catch (error) {
      if (!TRANSIENT.has(error.code) && error.status < 500) throw error;
      misses += 1;
      if (misses > 5) throw error;
      delay = Math.max(error.retryAfter * 1000, 1000 * 2 ** misses);
      continue;
    }
    if (login.cancelled) throw new VaporForgeError("cancelled", ENDED.cancelled);
    delay = status.poll_after_ms || 1000;
    if (login.epoch !== epoch) continue; // stale: sent before the latest code
    if (status.oauth_url && status.oauth_url !== shownUrl) {
      shownUrl = status.oauth_url;
      onUrl?.(shownUrl, login);
    }
    onState?.(status.state, { error: status.error, oauthUrl: status.oauth_url, login });
    if (status.state === "ready") return;
    if (ENDED[status.state]) {
      throw new VaporForgeError(status.error?.code || status.state,
        status.error?.message || ENDED[status.state]);
    }
  }
}

export async function connect({ baseUrl = DEFAULT_BASE, mode, ticket, getTicket, onUrl,
  onState, signal } = {}) {
  requireSecureContext();
  const base = brokerBase(baseUrl);
  mode ??= (await getModes({ baseUrl: base }))[0];
  // A ticket is used up only by a creation that succeeds; a fresh one per attempt.
  const bearer = getTicket ? await getTicket() : ticket;
  const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false,
    ["deriveBits"]);
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  // Not aborted mid-flight: a session created without our knowing would keep
  // its CLI running until it expires. Cancel it once we know its id instead.
  const created = await call(`${base}/api/auth/sessions`, { method: "POST",
    token: bearer || undefined, body: { mode, client_public_key: { kty, crv, x, y } } });
  const login = new Login(base, created);
  login.report = onState;
  if (signal?.aborted) {
    await login.cancel();
    throw new VaporForgeError("cancelled", ENDED.cancelled);
  }
  const abort = () => login.cancel();
  const leave = () => login.abandon();
  signal?.addEventListener("abort", abort);
  globalThis.addEventListener?.("pagehide", leave);
  try {
    onState?.(created.state, { error: null, oauthUrl: null, login });
    await follow(login, created, { onUrl, onState });
    const claimed = await call(`${login.url}/credentials`, { method: "POST", token: login.token });
    login.ended = true;
    const set = { ...(await openSealed(claimed, pair.privateKey)), obtainedAt: Date.now(),
      broker: base };
    if (typeof claimed.refresh_grant === "string") set.refresh_grant = claimed.refresh_grant;
    await storeSet(set);
    onState?.("claimed", { error: null, oauthUrl: null, login });
    return set;
  } finally {
    login.ended = true;
    signal?.removeEventListener("abort", abort);
    globalThis.removeEventListener?.("pagehide", leave);
  }
}
