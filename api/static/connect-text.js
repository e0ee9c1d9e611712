// Words the Connect page shows: plain-language errors and dates. No DOM here.

export const MODES = [
  { value: "oauth", label: "Claude subscription",
    hint: "Pro or Max plan. Stays connected: the access token is renewed on its own." },
  { value: "console", label: "Anthropic Console",
    hint: "An API-billing account on platform.claude.com." },
  { value: "setup-token", label: "Long-lived token",
    hint: "One token valid for a year, for running Claude Code only. It is not renewed." },
];

export function modeLabel(mode) {
  return MODES.find((m) => m.value === mode)?.label || mode;
}

const AGAIN = "Try again in a moment.";
const PLAIN = {
  network_error: "The broker could not be reached. Check your connection, then try again.",
  rate_limited: "Too many tries from this address. Wait a minute, then try again.",
  at_capacity: "The broker is busy right now. " + AGAIN,
  unavailable: "The broker cannot start a sign-in right now. " + AGAIN,
  timeout: "The sign-in took too long and was stopped. Start again when you are ready.",
  expired: "This sign-in expired before it finished. Start again.",
  credentials_expired: "The credentials were not collected in time. Start again.",
  too_many_attempts: "Too many codes were tried, so this sign-in was stopped. Start again.",
  worker_lost: "The broker lost this sign-in. Start again.",
  url_not_found: "Claude Code did not show a usable sign-in address. " + AGAIN,
  cli_exited: "Claude Code stopped before the sign-in finished. " + AGAIN,
  cli_not_found: "The broker cannot run Claude Code at the moment. " + AGAIN,
  runtime_error: "The broker could not start Claude Code. " + AGAIN,
  decrypt_failed: "The credentials could not be opened in this browser. Start again.",
  not_sealed: "The broker sent credentials this page will not accept. Start again.",
  insecure_context: "Open this page over https (or on localhost): credentials need a secure page.",
  refresh_rejected: "Your Claude sign-in has ended (it was used elsewhere or expired). " +
    "Connect again.",
  upstream_unavailable: "Renewing your access failed: the Claude sign-in service did not " +
    "answer. The page will try again.",
  ticket_required: "This broker signs people in only for the app that sent them. Open this " +
    "page from your app's own link to connect your Claude account.",
  ticket_invalid: "This sign-in link has expired or was already used. Go back to your app " +
    "and start again from there.",
  ticket_unavailable: "Your app could not start a sign-in just now. Reload the page and " +
    "try again.",
  mode_not_allowed: "This kind of account is not offered here. Choose another one.",
  origin_not_allowed: "This sign-in was started for another website. Go back to your app " +
    "and start again from there.",
  superseded: "A newer sign-in was started for your account (in another tab or window), " +
    "so this one was stopped.",
  abandoned: "This sign-in was stopped because the page stopped checking on it. Start again.",
  grant_required: "Your Claude sign-in cannot be renewed through this broker. Connect again.",
  grant_invalid: "Your Claude sign-in cannot be renewed through this broker any more. " +
    "Connect again.",
  grant_revoked: "Your Claude sign-in is no longer accepted here (your app disconnected it, " +
    "or the service had to reset), so it was removed from this browser. Connect again.",
  grant_reused: "Your Claude sign-in was used from somewhere else as well, so it was stopped " +
    "everywhere and removed from this browser. Connect again.",
  revoked: "Your app disconnected your Claude account, so this sign-in was stopped.",
  client_key_required: "The broker only hands out sealed credentials, and this browser " +
    "could not make a key. Try another browser.",
};

/** Plain words for a VaporForgeError or an API error object {code, message}. */
export function plainWords(error) {
  const code = error?.code || "";
  if (code === "exchange_failed") {
    return `The sign-in could not be finished. Claude Code said: “${error.message}”`;
  }
  if (code === "invalid_code") return error.message; // the CLI's own sentence
  return PLAIN[code] || error?.message || "Something went wrong. " + AGAIN;
}

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "long" });

export function when(ms) {
  return DATE_TIME.format(new Date(ms));
}

export function day(ms) {
  return DATE.format(new Date(ms));
}

export const YEAR_MS = 365 * 24 * 3600 * 1000;
