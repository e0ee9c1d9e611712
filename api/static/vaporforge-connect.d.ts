/**
 * Types for vaporforge-connect.js (the browser side of the VaporForge login
 * broker): everything that module exports, including what it re-exports from
 * vaporforge-refresh.js and vaporforge-http.js. Checked by tests/test_types.py
 * (tsc --noEmit over the README's host-app example).
 */

/** The three kinds of login the broker runs. */
export type Mode = "oauth" | "console" | "setup-token";

/** A session's state, as the broker reports it; `claimed` is also reported once stored. */
export type LoginState =
  | "starting"
  | "awaiting_code"
  | "verifying"
  | "ready"
  | "claimed"
  | "failed"
  | "expired"
  | "cancelled";

/** The broker's `{code, message}` error object, as in a session's status. */
export interface BrokerErrorInfo {
  code: string;
  message: string;
}

/** What the CLI writes for `oauth` and `console` logins (`.credentials.json`'s inner object). */
export interface ClaudeAiOauth {
  accessToken: string;
  refreshToken?: string;
  /** Milliseconds since the epoch, by this browser's clock after a refresh. */
  expiresAt?: number;
  scopes?: string[];
  refreshTokenExpiresAt?: number;
  [field: string]: unknown;
}

/** `{"claudeAiOauth": {...}}` (oauth, console) or `{"oauth_token"}` (setup-token). */
export interface Credentials {
  claudeAiOauth?: ClaudeAiOauth;
  oauth_token?: string;
  [field: string]: unknown;
}

/** The set stored (sealed) in this browser. */
export interface CredentialSet {
  mode: Mode;
  credentials: Credentials;
  /** A Console login's API key, when the CLI made one. */
  api_key?: string;
  /** The broker's grant for the refresh relay (oauth, console); replaced on each refresh. */
  refresh_grant?: string;
  /** When the set was stored (ms since the epoch). */
  obtainedAt: number;
  /** The broker's base URL. */
  broker: string;
  /** When the set was last refreshed (ms since the epoch). */
  refreshedAt?: number;
}

/** One login under way, handed to `onUrl` and `onState`. */
export interface Login {
  /** Hands the pasted code to the CLI; rejects (e.g. `validation_error`) if the broker refuses. */
  submitCode(code: string): Promise<{ state: "verifying" }>;
  /** Ends the login and its CLI (DELETE); `connect()` then rejects with `cancelled`. */
  cancel(): Promise<void>;
  /** For `pagehide`: a DELETE that outlives the page. */
  abandon(): void;
}

export interface StateInfo {
  error: BrokerErrorInfo | null;
  oauthUrl: string | null;
  login: Login;
}

export interface ConnectOptions {
  /** The broker's base URL; defaults to the broker the module was loaded from. */
  baseUrl?: string;
  /** Default: the first mode the broker offers (`getModes()`). */
  mode?: Mode;
  /** A connect ticket from the host's backend (`POST /api/auth/tickets`), sent as a bearer. */
  ticket?: string;
  /** Asked once per call of `connect()` for a fresh ticket; wins over `ticket`. */
  getTicket?: () => string | undefined | null | Promise<string | undefined | null>;
  /** The sign-in address to show (again when it changes). */
  onUrl?: (url: string, login: Login) => void;
  /** Every state seen, with the session's error if any. */
  onState?: (state: LoginState, info: StateInfo) => void;
  /** Aborting it cancels the login (DELETE: the CLI ends). */
  signal?: AbortSignal;
}

/** Every rejection of this module: the broker's error code, or a browser-side one. */
export class VaporForgeError extends Error {
  constructor(code: string, message: string, status?: number);
  readonly name: "VaporForgeError";
  /**
   * e.g. `ticket_required`, `network_error`, `decrypt_failed`, `cancelled`. After
   * `refresh_rejected`, `grant_revoked` (the host app disconnected the user) or
   * `grant_reused` (a copy of the grant was used) the stored set has been erased.
   */
  code: string;
  /** The HTTP status, 0 when there was no answer. */
  status: number;
  /** Seconds, from the broker's `Retry-After` (0 when absent). */
  retryAfter?: number;
}

/** How long before `expiresAt` a set is due for refresh (5 minutes, in ms). */
export const REFRESH_MARGIN_MS: number;
/** How often a login is polled while the tab is hidden (ms). */
export const HIDDEN_POLL_MS: number;

/** Runs one login and stores its credentials sealed; resolves with the stored set. */
export function connect(options?: ConnectOptions): Promise<CredentialSet>;
/** The modes the broker offers (GET /api/auth/modes), in its order; fetched once per broker. */
export function getModes(options?: { baseUrl?: string }): Promise<Mode[]>;
/** A ticket from the host app's backend: a same-origin POST to `url` answered by `{"ticket"}`. */
export function fetchTicket(url: string | URL): Promise<string>;
/** The stored set or null, refreshed first when due unless `refreshIfDue` is false. */
export function getCredentials(options?: { refreshIfDue?: boolean }): Promise<CredentialSet | null>;
/** A fresh access token (oauth, console) or the long-lived token (setup-token); null if none. */
export function getAccessToken(): Promise<string | null>;
/**
 * One refresh now; rejects with `no_refresh` for setup-token and API keys, and
 * erases the stored set on `refresh_rejected`, `grant_revoked` or `grant_reused`.
 */
export function refresh(): Promise<CredentialSet>;
/** Erases the stored set and its key. */
export function disconnect(): Promise<void>;
/** Called when another tab (or this one) stored, refreshed or erased the set; returns unsubscribe. */
export function onChange(callback: () => void): () => boolean;
/** True when the set has a refresh token (setup-token and API keys have none). */
export function canRefresh(set: CredentialSet | null | undefined): boolean;
/** True when the access token is within REFRESH_MARGIN_MS of expiry, or past it. */
export function isDue(set: CredentialSet | null | undefined, now?: number): boolean;
