// What the login flow (vaporforge-connect.js) and the stored set
// (vaporforge-refresh.js) share: the error class, one JSON call to the broker,
// and the secure-context check. No state here.

export class VaporForgeError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.name = "VaporForgeError";
    this.code = code;
    this.status = status;
  }
}

export function requireSecureContext() {
  if (!globalThis.isSecureContext || !crypto.subtle || !navigator.locks || !globalThis.indexedDB) {
    throw new VaporForgeError("insecure_context",
      "This page must be opened over https (or on localhost) to keep credentials safe.");
  }
}

/**
 * One JSON call. `token` goes as `Authorization: Bearer` (a session token, a
 * connect ticket or a refresh grant). Resolves with the body (null for 204);
 * rejects with a VaporForgeError carrying the broker's code and `retryAfter` (s).
 */
export async function call(url, { method = "GET", token, body, signal, keepalive } = {}) {
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
