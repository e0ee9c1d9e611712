// <vaporforge-connect base-url="https://broker.example">: the Connect page's
// whole flow as a custom element (light DOM, so the host page's styles and
// connect.css apply). States: a mode choice -> a spinner while the CLI starts ->
// the sign-in link and a paste box (the CLI's own sentence on a refused paste)
// -> "Connected" with expiry and scopes. Cancel works at every step; errors are
// shown in a role="alert" and the choice comes back for another try. While
// connected it renews the access token 5 minutes before it expires.
// Connect tickets: with `ticket-url="/path"` each attempt first POSTs to that
// address of the host app (same origin, with its cookies) for {"ticket"}; or a
// script sets the `ticket` property (the Connect page does, from `#ticket=`).
import { MODES, YEAR_MS, day, modeLabel, plainWords, when } from "./connect-text.js";
import {
  REFRESH_MARGIN_MS, canRefresh, connect, disconnect, fetchTicket, getCredentials, getModes,
  onChange,
} from "./vaporforge-connect.js";

let counter = 0;
const uid = (prefix) => `vf-${prefix}-${++counter}`;
const MAX_TIMER = 2 ** 31 - 1;

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((child) => child != null && child !== false));
  return node;
}

const spinner = () => h("span", { class: "vf-spinner", "aria-hidden": "true" });

class VaporForgeConnect extends HTMLElement {
  connectedCallback() {
    if (this.status) return;
    this.baseUrl = this.getAttribute("base-url") || undefined;
    this.status = h("p", { class: "vf-status", role: "status" });
    this.alert = h("div", { class: "vf-alert", role: "alert" });
    this.view = h("div", { class: "vf-view" });
    this.append(this.status, this.alert, this.view);
    this.flow = null;
    this.shown = "";
    this.syncs = 0;
    this.mode = null; // the choice; the first mode the broker offers until one is made
    this.offered = null;
    // Another tab (or this one) changed the set: show it, without refreshing here.
    onChange(() => this.sync({ refresh: false }));
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && this.shown === "connected") this.sync();
    });
    this.sync();
  }

  say(text) {
    this.status.textContent = text;
    this.status.dataset.tone = text === "Connected" ? "ok" : "";
  }

  warn(text) {
    this.alert.textContent = text || "";
  }

  render(name, heading, ...children) {
    this.shown = name;
    this.heading = heading;
    this.view.replaceChildren(...[heading, ...children].filter(Boolean));
  }

  // What is stored decides the view, unless a login is under way.
  async sync({ refresh = true } = {}) {
    if (this.flow) return;
    const mine = ++this.syncs; // a later sync supersedes this one
    let set = null;
    let problem = null;
    try {
      set = await getCredentials({ refreshIfDue: refresh });
    } catch (error) {
      problem = error;
      set = await getCredentials({ refreshIfDue: false }).catch(() => null);
    }
    await this.loadModes();
    if (mine !== this.syncs || this.flow) return;
    if (set) this.showConnected(set);
    else if (this.shown !== "choose") this.showChoose();
    if (problem) this.warn(plainWords(problem));
    this.plan(set, problem);
  }

  // Renews 5 minutes before expiry; after a failed renewal, tries again in a minute.
  plan(set, problem) {
    clearTimeout(this.timer);
    if (!canRefresh(set)) return;
    const due = set.credentials.claudeAiOauth.expiresAt - REFRESH_MARGIN_MS - Date.now();
    const wait = Math.min(Math.max(due, problem ? 60_000 : 30_000), MAX_TIMER);
    this.timer = setTimeout(() => this.sync(), wait);
  }

  // Only the modes the broker offers (GET /api/auth/modes), in its order; all of
  // them while it cannot be asked (it refuses the others itself).
  async loadModes() {
    if (this.offered) return;
    const values = await getModes({ baseUrl: this.baseUrl }).catch(() => null);
    if (values) {
      this.offered = values.map((v) => MODES.find((m) => m.value === v)).filter(Boolean);
    }
  }

  showChoose({ focus = false } = {}) {
    const offered = this.offered?.length ? this.offered : MODES;
    const chosen = offered.some((m) => m.value === this.mode) ? this.mode : offered[0].value;
    const form = h("form", { class: "vf-form", onsubmit: (event) => {
      event.preventDefault();
      this.start(new FormData(form).get("mode") || chosen);
    } });
    const choices = offered.map((mode) => {
      const id = uid("mode");
      const hint = uid("hint");
      return h("div", { class: "vf-choice" },
        h("input", { type: "radio", name: "mode", id, value: mode.value,
          checked: mode.value === chosen, "aria-describedby": hint }),
        h("label", { for: id }, mode.label),
        h("p", { class: "vf-hint", id: hint }, mode.hint));
    });
    const button = h("button", { type: "submit", class: "vf-primary" },
      "Connect Claude account");
    form.append(h("fieldset", { class: "vf-choices" },
      h("legend", {}, "Which Claude account do you use?"), choices), button);
    this.render("choose", null, form);
    this.say("Not connected");
    if (focus) button.focus();
  }

  async start(mode) {
    this.mode = mode;
    this.warn("");
    clearTimeout(this.timer);
    const controller = new AbortController();
    this.flow = { controller, form: null };
    const cancel = h("button", { type: "button", class: "vf-secondary",
      onclick: () => controller.abort() }, "Cancel");
    this.render("starting", h("h2", { tabindex: "-1" }, "Starting a sign-in"),
      h("p", { class: "vf-waiting" }, spinner(),
        "Claude Code is starting for you. This takes a few seconds."), cancel);
    this.say("Starting…");
    this.heading.focus();
    try {
      const set = await connect({ baseUrl: this.baseUrl, mode, signal: controller.signal,
        getTicket: () => this.ticketFor(),
        onUrl: (url, login) => this.showCode(url, login, controller),
        onState: (state, info) => this.onState(state, info) });
      this.flow = null;
      this.showConnected(set, { focus: true });
      this.plan(set, null);
    } catch (error) {
      this.flow = null;
      this.showChoose({ focus: true });
      if (error.code === "cancelled") {
        this.say("Sign-in cancelled. Nothing was kept.");
      } else {
        this.warn(plainWords(error));
      }
    }
  }

  // The ticket for one attempt: from the host's backend, or the one handed over.
  ticketFor() {
    const url = this.getAttribute("ticket-url");
    return url ? fetchTicket(url) : this.ticket;
  }

  showCode(url, login, controller) {
    if (this.flow.form) {
      this.flow.link.href = url; // setup-token shows a new address after a refused code
      return;
    }
    const link = h("a", { class: "vf-button", href: url, target: "_blank",
      rel: "noopener noreferrer" }, "Open the sign-in page");
    const inputId = uid("code");
    const hintId = uid("code-hint");
    const input = h("input", { id: inputId, name: "code", type: "text", autocomplete: "off",
      autocapitalize: "off", spellcheck: "false", "aria-describedby": hintId, required: true });
    const submit = h("button", { type: "submit", class: "vf-primary" }, "Submit code");
    const busy = h("span", { class: "vf-busy", hidden: true }, spinner(), "Checking the code…");
    const form = h("form", { class: "vf-form", onsubmit: (event) => {
      event.preventDefault();
      this.submitCode(login, input.value.trim());
    } },
    h("label", { for: inputId }, "Code"),
    h("p", { class: "vf-hint", id: hintId },
      "When you have signed in, the page shows a code. Copy all of it and paste it here."),
    h("div", { class: "vf-paste" }, input, submit), busy);
    this.flow = { ...this.flow, form, link, input, submit, busy };
    this.render("code", h("h2", { tabindex: "-1" }, "Sign in to Claude"),
      h("ol", { class: "vf-steps" },
        h("li", {}, h("p", {}, "Open the sign-in page and sign in. It opens in a new tab."),
          link),
        h("li", {}, form)),
      h("button", { type: "button", class: "vf-secondary", onclick: () => controller.abort() },
        "Cancel"));
    this.say("Waiting for your code");
    link.focus();
  }

  setBusy(busy) {
    const { input, submit, busy: note } = this.flow || {};
    if (!input) return;
    input.readOnly = busy;
    submit.disabled = busy;
    note.hidden = !busy;
  }

  async submitCode(login, code) {
    if (!code) {
      this.warn("Paste the code from the sign-in page first.");
      this.flow.input.focus();
      return;
    }
    this.warn("");
    this.setBusy(true);
    try {
      await login.submitCode(code);
    } catch (error) {
      if (!this.flow) return;
      this.setBusy(false);
      this.warn(plainWords(error));
      this.flow.input.focus();
    }
  }

  onState(state, { error }) {
    if (!this.flow?.form) return;
    if (state === "verifying") {
      this.flow.refused = false;
      this.setBusy(true);
      this.say("Checking the code…");
    } else if (state === "awaiting_code" && error && !this.flow.refused) {
      this.flow.refused = true; // the same refusal comes back on every poll until the next code
      this.setBusy(false);
      this.warn(plainWords(error));
      this.flow.input.value = "";
      this.flow.input.focus();
      this.say("Waiting for your code");
    } else if (state === "ready") {
      this.say("Collecting your credentials…");
    }
  }

  facts(set) {
    const oauth = set.credentials?.claudeAiOauth;
    const rows = [["Account type", modeLabel(set.mode)]];
    if (oauth?.expiresAt) {
      rows.push(["Access token", canRefresh(set)
        ? `Valid until ${when(oauth.expiresAt)}; renewed automatically`
        : `Valid until ${when(oauth.expiresAt)}`]);
    }
    if (oauth?.refreshTokenExpiresAt) {
      rows.push(["Sign in again by", day(oauth.refreshTokenExpiresAt)]);
    }
    if (set.credentials?.oauth_token) {
      rows.push(["Token", `Valid for one year, until about ${day(set.obtainedAt + YEAR_MS)}`]);
    }
    if (set.api_key) rows.push(["API key", "Created for this account"]);
    if (oauth?.scopes?.length) {
      rows.push(["Scopes", h("ul", { class: "vf-scopes" },
        oauth.scopes.map((scope) => h("li", {}, h("code", {}, scope))))]);
    }
    const list = h("dl", { class: "vf-facts" },
      rows.map(([term, detail]) => h("div", {}, h("dt", {}, term), h("dd", {}, detail))));
    let note = null;
    if (set.credentials?.oauth_token) {
      note = "A long-lived token is not renewed: sign in again before it runs out.";
    } else if (!canRefresh(set) && set.api_key) {
      note = "An API key is not renewed here; it works until it is revoked in the Console.";
    }
    return [list, note && h("p", { class: "vf-note" }, note)];
  }

  showConnected(set, { focus = false } = {}) {
    if (this.shown === "connected") {
      this.details.replaceChildren(...this.facts(set).filter(Boolean));
      return;
    }
    this.details = h("div", { class: "vf-details" }, this.facts(set));
    const leave = h("button", { type: "button", class: "vf-secondary", onclick: async () => {
      clearTimeout(this.timer);
      await disconnect();
      this.showChoose({ focus: true });
      this.say("Disconnected. The credentials were erased from this browser.");
    } }, "Disconnect");
    this.render("connected", h("h2", { tabindex: "-1" }, "Your Claude account is connected"),
      this.details,
      h("p", { class: "vf-hint" }, canRefresh(set)
        ? "The credentials are kept in this browser, encrypted. Apps you connect get access " +
          "tokens only; the refresh token stays here."
        : "The credentials are kept in this browser, encrypted."),
      leave);
    this.say("Connected");
    if (focus) this.heading.focus();
  }
}

customElements.define("vaporforge-connect", VaporForgeConnect);
