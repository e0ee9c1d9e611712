/**
 * vaporforge-connect.js: the browser side of the VaporForge login broker.
 *
 *   import { connect, getAccessToken } from "https://broker.example/static/vaporforge-connect.js";
 *
 * connect({baseUrl, mode, onUrl, onState, signal}) -> Promise<credentials>
 *   Runs one login: makes an ephemeral P-256 key pair (private half not
 *   extractable), creates a session with the public JWK, polls at the pace the
 *   broker asks (paused while the tab is hidden), calls onUrl(url, login) with
 *   the sign-in address, and onState(state, {error, oauthUrl, login}) on every
 *   change. `login.submitCode(code)` passes the pasted code on, `login.cancel()`
 *   (or aborting `signal`) ends the CLI. When the session is ready it claims the
 *   sealed credentials, opens them here, stores them sealed (see sealed-store.js)
 *   and resolves with them. Rejects with a VaporForgeError (`code`, `message`).
 *   Without `mode`, the first mode the broker offers (getModes()).
 * getModes({baseUrl}) -> the modes the broker offers (GET /api/auth/modes), the
 *   one to preselect first; fetched once per broker.
 * getCredentials() -> the stored set or null, refreshed first when due
 *   (5 minutes before expiresAt).
 * getAccessToken() -> a fresh access token (for CLAUDE_CODE_OAUTH_TOKEN) or null.
 * refresh() -> the set after one refresh.
 * disconnect() -> erases the stored set and its key.
 * onChange(callback) -> unsubscribe; called when another tab (or this one)
 *   stored, refreshed or erased the set.
 *
 * A credential set is {mode, credentials, api_key?, obtainedAt, broker}:
 * `credentials` is what the CLI produced ({"claudeAiOauth": {...}} or
 * {"oauth_token"}). Refresh tokens rotate, so refreshes are serialised across
 * tabs with the Web Locks API: a tab that waited reads the set the other tab
 * stored instead of refreshing again. Keep the refresh token in the browser;
 * hand sandboxes only access tokens.
 */
import { compactDecrypt } from "./vendor/jose-6.2.18/jwe/compact/decrypt.js";
import { eraseSealed, loadSealed, saveSealed } from "./sealed-store.js";

export const REFRESH_MARGIN_MS = 5 * 60 * 1000;
const DEFAULT_BASE = new URL("../", import.meta.url).href.replace(/\/$/, "");
const WRITE_LOCK = "vaporforge-connect:credentials";
const CHANGES = "vaporforge-connect";
const ENDED = { failed: "The sign-in failed.", expired: "The sign-in expired.",
  cancelled: "The sign-in was cancelled.", claimed: "The credentials were already handed out." };
const TRANSIENT = new Set(["network_error", "rate_limited", "unavailable", "http_error"]);

export class VaporForgeError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.name = "VaporForgeError";
    this.code = code;
    this.status = status;
  }
}

function requireSecureContext() {
  if (!globalThis.isSecureContext || !crypto.subtle || !navigator.locks || !globalThis.indexedDB) {
    throw new VaporForgeError("insecure_context",
      "This page must be opened over https (or on localhost) to keep credentials safe.");
  }
}

async function call(url, { method = "GET", token, body, signal, keepalive } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, signal, keepalive, cache: "no-store",
      credentials: "omit", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new VaporForgeError("network_error",
      "The broker could not be reached. Check your connection and try again.");
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new VaporForgeError(data?.error?.code || "http_error",
      data?.error?.message || `The broker answered ${response.status}.`, response.status);
    error.retryAfter = Number(response.headers.get("Retry-After")) || 0;
    throw error;
  }
  return data;
}

// --- change notices across tabs ------------------------------------------------
const listeners = new Set();
const channel = "BroadcastChannel" in globalThis ? new BroadcastChannel(CHANGES) : null;
channel?.addEventListener("message", () => listeners.forEach((fn) => fn()));

function announce() {
  channel?.postMessage("changed");
  listeners.forEach((fn) => fn());
}

export function onChange(callback) {
  listeners.add(callback);
  return () => listeners.delete(callback);
}

function write(work) {
  return navigator.locks.request(WRITE_LOCK, work);
}

// --- the modes the broker offers (VF_MODES) ------------------------------------
const offered = new Map(); // broker base URL -> Promise<string[]>

export function getModes({ baseUrl = DEFAULT_BASE } = {}) {
  const base = String(baseUrl).replace(/\/+$/, "");
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

  // Waits `ms`, but not while the tab is hidden; returns at once on cancel, and
  // as soon as the tab is shown again.
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
      const seen = () => (doc.hidden ? clearTimeout(timer) : done());
      this.wake = done;
      doc?.addEventListener("visibilitychange", seen);
      if (!doc?.hidden) timer = setTimeout(done, ms);
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

export async function connect({ baseUrl = DEFAULT_BASE, mode, onUrl, onState,
  signal } = {}) {
  requireSecureContext();
  const base = String(baseUrl).replace(/\/+$/, "");
  mode ??= (await getModes({ baseUrl: base }))[0];
  const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false,
    ["deriveBits"]);
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  // Not aborted mid-flight: a session created without our knowing would keep
  // its CLI running until it expires. Cancel it once we know its id instead.
  const created = await call(`${base}/api/auth/sessions`, { method: "POST",
    body: { mode, client_public_key: { kty, crv, x, y } } });
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
    await write(() => saveSealed(set));
    announce();
    onState?.("claimed", { error: null, oauthUrl: null, login });
    return set;
  } finally {
    login.ended = true;
    signal?.removeEventListener("abort", abort);
    globalThis.removeEventListener?.("pagehide", leave);
  }
}

// --- the stored set --------------------------------------------------------------
function oauthOf(set) {
  return set?.credentials?.claudeAiOauth || null;
}

/** True when the set has a refresh token (setup-token and API keys have none). */
export function canRefresh(set) {
  return Boolean(oauthOf(set)?.refreshToken);
}

/** True when the access token is within 5 minutes of expiry (or past it). */
export function isDue(set, now = Date.now()) {
  const expiresAt = oauthOf(set)?.expiresAt;
  return canRefresh(set) && typeof expiresAt === "number" && expiresAt - REFRESH_MARGIN_MS <= now;
}

// Replaces `seen` with a refreshed set, unless another tab replaced it while
// this one waited for the lock: then the set that tab stored is the answer.
function refreshFrom(seen) {
  return write(async () => {
    const current = await loadSealed();
    if (!current) throw new VaporForgeError("not_connected", "No Claude account is connected.");
    const oauth = oauthOf(current);
    if (!canRefresh(current) || oauth.refreshToken !== oauthOf(seen)?.refreshToken) {
      return current;
    }
    let fresh;
    const asked = Date.now();
    try {
      fresh = await call(`${current.broker}/api/auth/refresh`, { method: "POST", body: {
        refresh_token: oauth.refreshToken, scope: (oauth.scopes || []).join(" ") || undefined } });
    } catch (error) {
      if (error.code === "refresh_rejected") {
        await eraseSealed(); // that refresh token is dead: a new sign-in is needed
        announce();
      }
      throw error;
    }
    const renewed = { ...oauth, ...fresh.claudeAiOauth };
    // By this browser's clock (counted from the request, so never late), in case
    // it disagrees with the server's: a skewed clock must not cause a refresh loop.
    if (fresh.expires_in > 0) {
      const shift = asked + fresh.expires_in * 1000 - fresh.claudeAiOauth.expiresAt;
      renewed.expiresAt += shift;
      if (fresh.claudeAiOauth.refreshTokenExpiresAt) renewed.refreshTokenExpiresAt += shift;
    }
    const next = { ...current, refreshedAt: Date.now(), credentials: { ...current.credentials,
      claudeAiOauth: renewed } };
    await saveSealed(next);
    announce();
    return next;
  });
}

export async function refresh() {
  requireSecureContext();
  const seen = await loadSealed();
  if (!seen) throw new VaporForgeError("not_connected", "No Claude account is connected.");
  if (!canRefresh(seen)) {
    throw new VaporForgeError("no_refresh", "This login has no refresh token.");
  }
  return refreshFrom(seen);
}

/** The stored set or null; refreshed first when due unless `refreshIfDue` is false. */
export async function getCredentials({ refreshIfDue = true } = {}) {
  requireSecureContext();
  const set = await loadSealed();
  if (!set || !refreshIfDue || !isDue(set)) return set;
  try {
    return await refreshFrom(set);
  } catch (error) {
    // Still valid for a few minutes: a passing outage need not interrupt the user.
    if (error.code !== "refresh_rejected" && oauthOf(set).expiresAt > Date.now()) return set;
    throw error;
  }
}

export async function getAccessToken() {
  const set = await getCredentials();
  return oauthOf(set)?.accessToken || set?.credentials?.oauth_token || null;
}

export async function disconnect() {
  requireSecureContext();
  await write(() => eraseSealed());
  announce();
}
