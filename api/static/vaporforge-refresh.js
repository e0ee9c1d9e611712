/**
 * vaporforge-refresh.js: the credential set stored in this browser, and its
 * refresh. vaporforge-connect.js re-exports everything public here.
 *
 * A set is {mode, credentials, api_key?, refresh_grant?, obtainedAt, broker,
 * refreshedAt?}: `credentials` is what the CLI produced ({"claudeAiOauth": {...}}
 * or {"oauth_token"}); `refresh_grant` is the broker's grant for the refresh
 * relay (given with oauth and console logins by a broker with host keys), sent
 * as `Authorization: Bearer` on each refresh and replaced by the one each
 * refresh answers. Refresh tokens rotate, so refreshes are serialised across
 * tabs with the Web Locks API: a tab that waited reads the set the other tab
 * stored instead of refreshing again.
 */
import { VaporForgeError, call, requireSecureContext } from "./vaporforge-http.js";
import { eraseSealed, loadSealed, saveSealed } from "./sealed-store.js";

const notConnected = () => new VaporForgeError("not_connected", "No Claude account is connected.");

export const REFRESH_MARGIN_MS = 5 * 60 * 1000;
const WRITE_LOCK = "vaporforge-connect:credentials";
const CHANGES = "vaporforge-connect";
// Answers after which the stored set can never be refreshed again: the sign-in
// service refused its token, the host app disconnected the user, or a copy of the
// grant was used (the broker then refuses every grant of that login).
const ENDED_FOR_GOOD = new Set(["refresh_rejected", "grant_revoked", "grant_reused"]);

// --- change notices across tabs ------------------------------------------------
const listeners = new Set();
const channel = "BroadcastChannel" in globalThis ? new BroadcastChannel(CHANGES) : null;
channel?.addEventListener("message", () => listeners.forEach((fn) => fn()));

function announce() {
  channel?.postMessage("changed");
  listeners.forEach((fn) => fn());
}

/** `callback()` when another tab (or this one) stored, refreshed or erased the set. */
export function onChange(callback) {
  listeners.add(callback);
  return () => listeners.delete(callback);
}

function write(work) {
  return navigator.locks.request(WRITE_LOCK, work);
}

/** Stores a new set (a login's), under the write lock, and tells every tab. */
export async function storeSet(set) {
  await write(() => saveSealed(set));
  announce();
}

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
    if (!current) throw notConnected();
    const oauth = oauthOf(current);
    if (!canRefresh(current) || oauth.refreshToken !== oauthOf(seen)?.refreshToken) {
      return current;
    }
    let fresh;
    const asked = Date.now();
    try {
      fresh = await call(`${current.broker}/api/auth/refresh`, { method: "POST",
        token: current.refresh_grant, body: {
          refresh_token: oauth.refreshToken, scope: (oauth.scopes || []).join(" ") || undefined } });
    } catch (error) {
      if (ENDED_FOR_GOOD.has(error.code)) {
        await eraseSealed(); // that refresh token or grant is dead: a new sign-in is needed
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
    // The grant names the refresh token it came with: the rotated token needs the new one.
    if (typeof fresh.refresh_grant === "string") next.refresh_grant = fresh.refresh_grant;
    await saveSealed(next);
    announce();
    return next;
  });
}

/** One refresh now; rejects with `no_refresh` for setup-token and API keys. */
export async function refresh() {
  requireSecureContext();
  const seen = await loadSealed();
  if (!seen) throw notConnected();
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
    if (!ENDED_FOR_GOOD.has(error.code) && oauthOf(set).expiresAt > Date.now()) return set;
    throw error;
  }
}

/** A fresh access token (for CLAUDE_CODE_OAUTH_TOKEN), the long-lived token, or null. */
export async function getAccessToken() {
  const set = await getCredentials();
  return oauthOf(set)?.accessToken || set?.credentials?.oauth_token || null;
}

/** Erases the stored set and its key. */
export async function disconnect() {
  requireSecureContext();
  await write(() => eraseSealed());
  announce();
}
