// The esign confirmation app: pair this phone, see signing requests as they arrive, confirm one
// with a TOTP code or reject it, and look back at past requests. Plain ES modules, no build step.

import * as i18n from "./i18n.js";
import { formatDate, formatDateTime, keyOfText, t } from "./i18n.js";
import * as passkey from "./passkey.js";
import { issuerName, signerOf } from "./signer.js";
import * as store from "./store.js";
import { canGenerate, importSecret, parseOtpauth, totpNow } from "./totp.js";

const API = new URL("../api/mobile/", location.href);
const POLL_MS = 4000;
const MAX_ATTEMPTS = 5;
const UNLOCK_MS = 60_000; // how long the app's codes stay readable after the PIN or the passkey

const $ = (id) => document.getElementById(id);

const state = {
  device: null, // {token, deviceId, userName, deviceName}
  totp: null, // {key: CryptoKey, digits, period}: in memory only, for UNLOCK_MS after an unlock
  sealed: null, // {iv, ct, digits, period}: the TOTP secret, encrypted under the server-held code key
  unlockedUntil: 0,
  security: { passkeys: [], has_pin: false, push_public_key: null }, // from GET security
  lastStep: -1, // last time step this app filled in (a code is accepted once)
  pending: new Map(), // id -> session, with a local `deadline` (ms, Date.now() clock)
  history: [],
  view: null,
  current: null, // id of the request on screen
  busy: new Set(), // ids with a confirm/reject in flight: live updates do not interrupt them
  attempts: new Map(), // id -> wrong codes typed here
  pairing: null, // {token, info, totp}
  outcome: null, // {session, note} on the result screen
  pinNote: null, // {key, params, kind, field}: the last word of the Change PIN screen, re-read on a language change
  live: "idle", // live | polling | reconnecting | offline
};

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

async function api(path, { method = "GET", body, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && state.device) headers.Authorization = `Bearer ${state.device.token}`;
  let response;
  try {
    response = await fetch(new URL(path, API), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    setLive("offline");
    throw new ApiError(0, "network", "network");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const code = (data && data.error) || `http_${response.status}`;
    if (response.status === 401 && auth && code === "invalid_device") forgetDevice(true);
    throw new ApiError(response.status, code, (data && data.message) || response.statusText, data || {});
  }
  return data;
}

// ---------------------------------------------------------------- views and messages

function show(view, { focus = true } = {}) {
  state.view = view;
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  const paired = Boolean(state.device);
  $("tabs").hidden = !paired || view === "pair";
  for (const tab of document.querySelectorAll(".tab")) {
    const here =
      tab.dataset.view === view ||
      (tab.dataset.view === "pending" && ["request", "result"].includes(view)) ||
      (tab.dataset.view === "settings" && view === "pin");
    if (here) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (view !== "request") state.current = view === "result" ? state.current : null;
  if (focus) {
    const heading = document.querySelector(`#view-${view} h1`);
    if (heading) heading.focus();
  }
}

function announce(text) {
  const region = $("announce");
  region.textContent = "";
  // A fresh text node after a tick is what makes screen readers read a repeated message again.
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

function setLive(mode) {
  state.live = mode;
  const el = $("conn");
  const label = { live: "", polling: t("connPolling"), reconnecting: t("connReconnecting"), offline: t("connOffline") }[
    mode
  ];
  el.textContent = label || "";
  el.hidden = !label;
  el.dataset.mode = mode;
  const setting = $("set-live");
  if (setting) setting.textContent = t(`live_${mode}`);
}

function message(el, text, kind = "error") {
  el.textContent = text;
  el.hidden = !text;
  el.dataset.kind = kind;
}

function node(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) el.append(child);
  return el;
}

function minutesSeconds(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function secondsLeft(session) {
  return Math.max(0, (session.deadline - Date.now()) / 1000);
}

function signerText(credential) {
  const signer = signerOf(credential.subject || "");
  return [signer.name, ...signer.ids].filter(Boolean).join(" · ");
}

function certificateText(credential) {
  const parts = [];
  if (credential.label) parts.push(credential.label);
  if (credential.issuer) parts.push(t("issuedBy", { issuer: issuerName(credential.issuer) }));
  if (credential.serial) parts.push(t("serial", { serial: credential.serial.slice(0, 16).toUpperCase() }));
  if (credential.not_after) parts.push(t("validUntil", { date: formatDate(credential.not_after) }));
  return parts.join(" · ");
}

function statusText(session) {
  return withdrawn(session) ? t("status_withdrawn") : t(`status_${session.status}`);
}

// The reasons a user can pick when rejecting: sent in the language of the moment, shown later in the
// language of the moment (an English history showed Vietnamese reasons).
const REJECT_REASONS = ["reasonNotMe", "reasonWrong", "reasonCode", "reasonLater"];

// The server states its own reasons in English; these are shown in the reader's language.
const SERVER_REASONS = {
  "not confirmed in time": "reasonServerExpired",
  "too many wrong codes": "reasonServerTooMany",
  "credential is no longer active": "reasonServerCredential",
  "cancelled by the relying system": "reasonServerWithdrawn",
  "rejected by the user": "reasonServerRejected",
};

function reasonText(reason) {
  if (!reason) return "";
  const picked = keyOfText(reason, REJECT_REASONS);
  if (picked) return t(picked);
  const key = SERVER_REASONS[reason];
  if (key) return t(key);
  return reason.startsWith("signing failed") ? t("reasonServerSigning") : reason;
}

function withdrawn(session) {
  return session.status === "rejected" && session.reason === "cancelled by the relying system";
}

// ---------------------------------------------------------------- the list of pending requests

function remember(session) {
  session.deadline = Date.now() + session.seconds_left * 1000;
  return session;
}

function replacePending(sessions) {
  state.pending = new Map(sessions.filter((s) => s.status === "pending").map((s) => [s.id, remember(s)]));
  renderPending();
}

function upsert(session) {
  if (session.status === "pending") {
    state.pending.set(session.id, remember(session));
  } else {
    state.pending.delete(session.id);
    state.history = [session, ...state.history.filter((h) => h.id !== session.id)];
    // The request on screen ended elsewhere (expired, withdrawn by its system): say so.
    if (state.current === session.id && state.view === "request" && !state.busy.has(session.id)) {
      showOutcome(session, withdrawn(session) ? { key: "withdrawnText" } : null);
    }
    if (state.view === "history") renderHistory();
  }
  renderPending();
}

// One card: what is asked, its code and the time left (the relying system is the group's heading).
function pendingCard(s) {
  const docs = s.documents.length
    ? s.documents.slice(0, 3).join(", ") + (s.documents.length > 3 ? "…" : "")
    : t("documentsUnnamed");
  return node(
    "li",
    { class: "card", "data-session": s.id },
    s.description ? node("p", { class: "card-desc", text: s.description }) : null,
    node("p", { class: "card-docs", text: `${t("itemCount", { count: s.item_count })}: ${docs}` }),
    node(
      "p",
      { class: "card-meta" },
      node("span", { text: `${t("confirmationCode")}: ` }),
      node("strong", { class: "mono code-small", text: s.confirmation_code }),
    ),
    node(
      "p",
      { class: "card-meta" },
      node("span", { text: `${t("timeLeft")}: ` }),
      node("strong", { "data-left": s.id, text: minutesSeconds(secondsLeft(s)) }),
    ),
    node("button", {
      type: "button",
      class: "btn primary",
      "data-open": s.id,
      text: t("open"),
      "aria-label": t("openLabel", { name: s.relying_system.name, code: s.confirmation_code }),
    }),
  );
}

// Every pending request, grouped under its relying system (groups by name, soonest deadline first
// within a group), so a flood from one system cannot push another system's request out of sight.
// Grouped here, not from the server's `groups`, because live events deliver one session at a time.
function renderPending() {
  const list = $("pending-list");
  const sessions = [...state.pending.values()].sort((a, b) => a.deadline - b.deadline);
  const groups = new Map();
  for (const s of sessions) {
    const id = s.relying_system.id;
    if (!groups.has(id)) groups.set(id, { system: s.relying_system, items: [] });
    groups.get(id).items.push(s);
  }
  const ordered = [...groups.values()].sort(
    (a, b) => a.system.name.localeCompare(b.system.name) || a.system.id.localeCompare(b.system.id),
  );
  list.replaceChildren(
    ...ordered.map((g) => {
      const headingId = `group-${g.system.id}`;
      return node(
        "li",
        { class: "group", "data-group": g.system.id, "aria-labelledby": headingId },
        node(
          "h2",
          { class: "group-title", id: headingId },
          node("span", { class: "group-name", text: g.system.name }),
          node("span", {
            class: "count",
            "data-group-count": g.system.id,
            text: String(g.items.length),
            "aria-label": t("groupCount", { count: g.items.length }),
          }),
        ),
        node("ul", { class: "cards" }, ...g.items.map(pendingCard)),
      );
    }),
  );
  $("pending-empty").hidden = sessions.length > 0;
  const count = $("pending-count");
  count.textContent = sessions.length ? String(sessions.length) : "";
}

// ---------------------------------------------------------------- authorised relying systems

async function loadSystems() {
  const box = $("systems-result");
  message(box, "", "info");
  try {
    renderSystems(await api("relying-systems"));
  } catch (error) {
    if (error.code !== "network") message(box, t("serverError", { message: error.message }));
  }
}

function renderSystems(systems) {
  $("systems-empty").hidden = systems.length > 0;
  $("systems-list").replaceChildren(
    ...systems.map((g) =>
      node(
        "li",
        { class: "system", "data-system": g.client_id },
        node("span", { class: "system-name", text: g.client_name }),
        node("button", {
          type: "button",
          class: "btn secondary small",
          "data-withdraw": g.client_id,
          "data-name": g.client_name,
          text: t("withdraw"),
          "aria-label": t("withdrawLabel", { name: g.client_name }),
        }),
      ),
    ),
  );
}

async function withdrawSystem(clientId, name) {
  if (!confirm(t("withdrawConfirm", { name }))) return;
  try {
    await api(`relying-systems/${encodeURIComponent(clientId)}`, { method: "DELETE" });
    // Requests already sent stay listed until they end, as the server keeps them; new ones are refused.
    message($("systems-result"), t("systemWithdrawn", { name }), "info");
    renderSystems(await api("relying-systems"));
  } catch (error) {
    if (error.code !== "network") message($("systems-result"), t("serverError", { message: error.message }));
  }
}

function tick() {
  for (const el of document.querySelectorAll("[data-left]")) {
    const session = state.pending.get(el.dataset.left);
    if (session) el.textContent = minutesSeconds(secondsLeft(session));
  }
  const current = state.current && state.pending.get(state.current);
  if (current && state.view === "request") {
    const left = secondsLeft(current);
    $("req-left").textContent = minutesSeconds(left);
    const total = Math.max(1, (new Date(current.expires_at) - new Date(current.created_at)) / 1000);
    $("req-meter").style.width = `${Math.min(100, (left / total) * 100)}%`;
    $("req-left-wrap").dataset.urgent = left < 30 ? "true" : "false";
    if (left <= 0 && !state.busy.has(current.id)) {
      state.pending.delete(current.id);
      showOutcome({ ...current, status: "expired" });
      renderPending();
    }
  }
  let dropped = false;
  for (const [id, session] of state.pending) {
    if (secondsLeft(session) <= 0 && id !== state.current) dropped = state.pending.delete(id);
  }
  if (dropped) renderPending();
  if (state.totp && Date.now() >= state.unlockedUntil) state.totp = null; // locked again
  updateGenerator();
}

// ---------------------------------------------------------------- one request

function openRequest(id) {
  const s = state.pending.get(id);
  if (!s) return;
  state.current = id;
  $("otp").value = "";
  $("otp").removeAttribute("aria-invalid");
  setBusy(false);
  message($("passkey-hint"), "");
  rerenderRequest();
  loadPages(s);
  $("otp-hint").dataset.kind = "";
  show("request");
  tick();
}

function rerenderRequest() {
  const s = state.pending.get(state.current);
  if (!s) return;
  $("req-title").textContent = t("requestFrom", { name: s.relying_system.name });
  $("req-desc").textContent = s.description || "";
  $("req-desc").hidden = !s.description;
  $("req-code").textContent = s.confirmation_code;
  // A system that sent no names (a bare CSC client) gets no invented ones: the description and count.
  const names = s.documents.length ? s.documents : [t("documentsUnnamedCount", { count: s.item_count })];
  $("req-docs").replaceChildren(...names.map((name) => node("li", { text: name })));
  renderPreviews(s);
  $("req-signer").textContent = signerText(s.credential);
  $("req-cert").textContent = certificateText(s.credential);
  $("req-created").textContent = formatDateTime(s.created_at);
  $("otp-fill").hidden = !state.sealed;
  $("otp-hint").textContent = state.sealed ? t("otpHintApp") : t("otpHintOther");
  $("passkey-box").hidden = !state.security.passkeys.length;
  const docs = pagesCache.get(s.id);
  if (docs) renderPages(s, docs);
  $("confirm-btn").textContent = state.busy.has(s.id) ? t("working") : t("confirmSign");
}

// ---------------------------------------------------------------- where the marks go (Decree 30)

// Rendered previews, by "session/index": fetched once, as data: URLs (the page's CSP allows data:
// images, and an <img> cannot send the device token itself).
const previewCache = new Map();
const previewObserver =
  "IntersectionObserver" in window
    ? new IntersectionObserver(
        (entries) => {
          for (const entry of entries) {
            if (!entry.isIntersecting) continue;
            previewObserver.unobserve(entry.target);
            loadPreview(entry.target);
          }
        },
        { rootMargin: "200px" },
      )
    : null;

function renderPreviews(session) {
  const box = $("req-previews");
  const indexes = (session.previews || []).filter((i) => Number.isInteger(i) && i >= 0);
  box.hidden = indexes.length === 0;
  $("req-previews-title").hidden = box.hidden;
  box.replaceChildren(
    ...indexes.map((index) => {
      const name = session.documents[index] || t("documentsUnnamed");
      const img = node("img", {
        class: "preview-img",
        alt: t("previewAlt", { name }),
        loading: "lazy",
        decoding: "async",
        "data-preview": `${session.id}/${index}`,
      });
      const cached = previewCache.get(img.dataset.preview);
      if (cached) img.src = cached;
      else if (previewObserver) previewObserver.observe(img);
      else loadPreview(img);
      return node("figure", { class: "preview" }, img, node("figcaption", { text: name }));
    }),
  );
}

async function loadPreview(img) {
  // Only when it comes near the screen: a batch of letters does not download every preview at once.
  const key = img.dataset.preview || img.dataset.page;
  const [id, index, page] = key.split("/");
  const path = page
    ? `sessions/${encodeURIComponent(id)}/documents/${index}/pages/${page}.png`
    : `sessions/${encodeURIComponent(id)}/documents/${index}/preview.png`;
  try {
    const response = await fetch(new URL(path, API), {
      headers: { Authorization: `Bearer ${state.device.token}`, Accept: "image/png" },
      cache: "no-store",
      credentials: "omit",
    });
    if (!response.ok || response.headers.get("content-type") !== "image/png") throw new Error(response.status);
    const blob = await response.blob();
    const url = await new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
    previewCache.set(key, url);
    img.src = url;
  } catch {
    // No preview (the document draws nothing, or the network is gone): the request reads as before.
    const figure = img.closest("figure");
    if (figure) figure.hidden = true;
  }
}

// ---------------------------------------------------------------- the document's first pages

// The documents of a request with their first pages (none for a request of hashes), by session id.
const pagesCache = new Map();

async function loadPages(session) {
  $("req-pages").hidden = true;
  $("req-pages-title").hidden = true;
  $("req-pages").replaceChildren();
  if (!pagesCache.has(session.id)) {
    try {
      pagesCache.set(session.id, await api(`sessions/${encodeURIComponent(session.id)}/documents`));
    } catch {
      return; // no preview: the names and the description are there
    }
  }
  if (state.current === session.id && state.view === "request") renderPages(session, pagesCache.get(session.id));
}

function renderPages(session, docs) {
  const box = $("req-pages");
  const shown = [];
  for (const doc of docs) {
    for (const page of doc.pages || []) {
      const label = t("pageAlt", { page: page.number, count: doc.page_count, name: doc.name });
      const img = node("img", {
        class: "preview-img",
        alt: label,
        loading: "lazy",
        decoding: "async",
        "data-page": `${session.id}/${doc.index}/${page.number}`,
      });
      const frame = node("div", { class: "page" }, img);
      if (doc.mark && doc.mark.page === page.number) {
        // Where the mark goes: the prepared signature's box, as fractions of the page.
        const mark = node("div", { class: "mark-box", role: "img", "aria-label": t("markHere"), title: t("markHere") });
        mark.style.left = `${doc.mark.left * 100}%`;
        mark.style.top = `${doc.mark.top * 100}%`;
        mark.style.width = `${doc.mark.width * 100}%`;
        mark.style.height = `${doc.mark.height * 100}%`;
        frame.append(mark);
      }
      const cached = previewCache.get(img.dataset.page);
      if (cached) img.src = cached;
      else if (previewObserver) previewObserver.observe(img);
      else loadPreview(img);
      shown.push(node("figure", { class: "preview", "data-doc": doc.index }, frame, node("figcaption", { text: label })));
    }
    if (doc.pages && doc.pages.length && doc.page_count > doc.pages.length) {
      shown.push(node("p", { class: "pages-more", text: t("pageMore", { shown: doc.pages.length, count: doc.page_count }) }));
    }
  }
  box.replaceChildren(...shown);
  box.hidden = shown.length === 0;
  $("req-pages-title").hidden = box.hidden;
}

// ---------------------------------------------------------------- passkeys

async function loadSecurity() {
  try {
    state.security = await api("security");
  } catch {
    // offline: what was known stays
  }
  renderSecurity();
}

async function renderSecurity() {
  const count = state.security.passkeys.length;
  const usable = await passkey.available();
  $("passkey-status").textContent = count
    ? t("passkeyCount", { count })
    : usable
      ? t("passkeyNone")
      : t("passkeyUnavailable");
  $("passkey-register").hidden = !usable;
  $("pin-box").hidden = !state.security.has_pin; // a device whose codes come from another app has no PIN
  if (state.view === "request" && state.current) $("passkey-box").hidden = !count;
  updateGenerator();
  renderPush();
}

async function registerPasskey() {
  const box = $("passkey-result");
  $("passkey-register").disabled = true;
  try {
    const options = await api("passkeys/options", { method: "POST" });
    const credential = await passkey.create(options.public_key);
    await api("passkeys", { method: "POST", body: { challenge_id: options.challenge_id, credential } });
    message(box, t("passkeyRegistered"), "info");
    announce(t("passkeyRegistered"));
  } catch {
    message(box, t("passkeyRegisterFailed"));
  } finally {
    $("passkey-register").disabled = false;
  }
  await loadSecurity();
}

function passkeyError(text) {
  message($("passkey-hint"), text, "error");
  announce(text);
}

async function confirmWithPasskey() {
  const id = state.current;
  const session = state.pending.get(id);
  if (!session || state.busy.has(id)) return;
  state.busy.add(id);
  setBusy(true);
  message($("passkey-hint"), t("passkeyWorking"), "info");
  let done = null;
  let failure = null;
  try {
    // The challenge commits to this request: the server recomputes it from the request it signs.
    const path = `sessions/${encodeURIComponent(id)}`;
    const options = await api(`${path}/passkey-options`, { method: "POST" });
    const credential = await passkey.get(options.public_key);
    done = await api(`${path}/confirm-passkey`, {
      method: "POST",
      body: { challenge_id: options.challenge_id, credential },
    });
  } catch (error) {
    failure = error;
  }
  state.busy.delete(id);
  setBusy(false);
  if (done) {
    message($("passkey-hint"), "");
    state.pending.delete(id);
    upsert(done);
    showOutcome(done);
  } else if (!(failure instanceof ApiError)) {
    passkeyError(t("passkeyCancelled")); // the phone's own check was cancelled or failed
  } else if (failure.code === "passkey_refused") {
    passkeyError(t("passkeyRefused"));
  } else {
    message($("passkey-hint"), "");
    await confirmFailed(id, session, failure);
  }
}

// ---------------------------------------------------------------- unlocking the app's codes

let unlockWaiter = null;

/** Resolves true once the app's codes are readable (after the PIN or the passkey), false if not. */
function unlockCodes() {
  if (state.totp && Date.now() < state.unlockedUntil) return Promise.resolve(true);
  if (!state.sealed) return Promise.resolve(false);
  $("unlock-passkey").hidden = !state.security.passkeys.length;
  $("unlock-pin-box").hidden = !state.security.has_pin;
  $("unlock-pin").value = "";
  message($("unlock-error"), "");
  $("unlock-dialog").showModal();
  (state.security.has_pin ? $("unlock-pin") : $("unlock-passkey")).focus();
  return new Promise((resolve) => {
    unlockWaiter = resolve;
  });
}

function closeUnlock(ok) {
  const waiter = unlockWaiter;
  unlockWaiter = null;
  if ($("unlock-dialog").open) $("unlock-dialog").close();
  if (waiter) waiter(ok);
}

function unlockErrorText(error) {
  if (!(error instanceof ApiError)) return t("passkeyCancelled");
  if (error.code === "invalid_pin") return t("pinWrong", { left: error.extra.attempts_left });
  if (error.code === "pin_locked") return t("pinLocked", { time: minutesSeconds(Number(error.extra.retry_after) || 300) });
  if (error.code === "no_pin") return t("pinNone");
  if (error.code === "passkey_refused") return t("passkeyRefused");
  if (error.code === "network") return t("offline");
  return t("serverError", { message: error.message });
}

async function unlockWith(body) {
  const answer = await api("unlock", { method: "POST", body });
  const codeKey = Uint8Array.from(atob(answer.code_key), (c) => c.charCodeAt(0));
  const secret = await passkey.open(state.sealed, codeKey);
  state.totp = { key: await importSecret(secret), digits: state.sealed.digits, period: state.sealed.period };
  state.unlockedUntil = Date.now() + UNLOCK_MS;
  closeUnlock(true);
  updateGenerator();
}

async function unlockWithPin(event) {
  event.preventDefault();
  const pin = $("unlock-pin").value.trim();
  if (!/^\d{4,12}$/.test(pin)) {
    message($("unlock-error"), t("pinFormat"));
    return;
  }
  try {
    await unlockWith({ pin });
  } catch (error) {
    $("unlock-pin").value = "";
    message($("unlock-error"), unlockErrorText(error));
  }
}

async function unlockWithPasskey() {
  try {
    const options = await api("unlock/options", { method: "POST" });
    const credential = await passkey.get(options.public_key);
    await unlockWith({ challenge_id: options.challenge_id, credential });
  } catch (error) {
    message($("unlock-error"), unlockErrorText(error));
  }
}

// ---------------------------------------------------------------- changing the PIN

const PIN_FIELDS = ["pin-old", "pin-new", "pin-repeat"];

function openPinChange() {
  for (const id of PIN_FIELDS) {
    $(id).value = "";
    $(id).removeAttribute("aria-invalid");
  }
  setPinNote(null);
  show("pin");
}

/** Show (or clear) the screen's message; ``field`` is the input it is about. */
function setPinNote(note) {
  state.pinNote = note;
  for (const id of PIN_FIELDS) $(id).removeAttribute("aria-invalid");
  if (note?.field) $(note.field).setAttribute("aria-invalid", "true");
  message($("pin-result"), note ? t(note.key, note.params) : "", note?.kind || "error");
}

function pinChangeNote(error) {
  const params = {};
  if (error.code === "invalid_pin") return { key: "pinOldWrong", params: { left: error.extra.attempts_left }, field: "pin-old" };
  if (error.code === "pin_locked") {
    return { key: "pinLocked", params: { time: minutesSeconds(Number(error.extra.retry_after) || 300) }, field: "pin-old" };
  }
  if (error.code === "no_pin") return { key: "pinNone", params };
  if (error.code === "invalid_pin_format") return { key: "pinFormat", params, field: "pin-new" };
  if (error.code === "pin_unchanged") return { key: "pinSame", params, field: "pin-new" };
  if (error.code === "network") return { key: "offline", params };
  return { key: "serverError", params: { message: error.message } };
}

async function changePin(event) {
  event.preventDefault();
  const [oldPin, newPin, repeated] = PIN_FIELDS.map((id) => $(id).value.trim());
  // Checked here first: a malformed current PIN would only count as a wrong one at the server.
  let note = null;
  if (!/^\d{4,12}$/.test(oldPin)) note = { key: "pinFormat", field: "pin-old" };
  else if (!/^\d{4,12}$/.test(newPin)) note = { key: "pinFormat", field: "pin-new" };
  else if (newPin !== repeated) note = { key: "pinMismatch", field: "pin-repeat" };
  else if (newPin === oldPin) note = { key: "pinSame", field: "pin-new" };
  if (note) {
    setPinNote({ params: {}, ...note });
    $(note.field).focus();
    return;
  }
  $("pin-submit").disabled = true;
  try {
    await api("pin/change", { method: "POST", body: { old_pin: oldPin, new_pin: newPin } });
    for (const id of PIN_FIELDS) $(id).value = "";
    setPinNote({ key: "pinChanged", params: {}, kind: "info" });
    announce(t("pinChanged"));
  } catch (error) {
    const failed = pinChangeNote(error);
    setPinNote(failed);
    if (failed.field) {
      $(failed.field).value = "";
      $(failed.field).focus();
    }
  } finally {
    $("pin-submit").disabled = false;
  }
}

// ---------------------------------------------------------------- Web Push

async function pushSubscription() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return null;
  const registration = await navigator.serviceWorker.getRegistration();
  return registration ? registration.pushManager.getSubscription() : null;
}

async function renderPush() {
  const status = $("push-status");
  const button = $("push-enable");
  if (!state.security.push_public_key) {
    status.textContent = t("pushOff");
    button.hidden = true;
    return;
  }
  if (!("PushManager" in window) || !("Notification" in window)) {
    status.textContent = t("pushFailed");
    button.hidden = true;
    return;
  }
  const subscribed = await pushSubscription().catch(() => null);
  status.textContent = subscribed ? t("pushOn") : Notification.permission === "denied" ? t("pushDenied") : "";
  button.hidden = Boolean(subscribed);
}

async function enablePush() {
  try {
    if ((await Notification.requestPermission()) !== "granted") throw new Error("denied");
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: passkey.fromB64url(state.security.push_public_key),
    });
    const json = subscription.toJSON();
    await api("push/subscriptions", {
      method: "POST",
      body: { endpoint: json.endpoint, keys: json.keys, lang: i18n.lang() },
    });
    $("push-status").textContent = t("pushOn");
    $("push-enable").hidden = true;
  } catch {
    $("push-status").textContent = Notification.permission === "denied" ? t("pushDenied") : t("pushFailed");
  }
}

function setBusy(busy) {
  for (const id of ["confirm-btn", "reject-btn", "otp-fill", "otp", "reject-reason", "passkey-btn"]) $(id).disabled = busy;
  $("confirm-btn").textContent = busy ? t("working") : t("confirmSign");
}

function noteText(note) {
  if (!note) return "";
  return t(note.key, note.status ? { status: statusText({ status: note.status }) } : {});
}

function showOutcome(session, note = null, { focus = true } = {}) {
  state.outcome = { session, note };
  const box = $("result-box");
  box.dataset.status = session.status;
  $("result-icon").textContent = { signed: "✓", rejected: "✕", expired: "◔", failed: "!" }[session.status] || "i";
  $("result-title").textContent = withdrawn(session) ? t("withdrawnTitle") : t(`result_${session.status}_title`);
  $("result-text").textContent =
    noteText(note) ||
    (withdrawn(session)
      ? t("withdrawnText")
      : t(`result_${session.status}_text`, { name: session.relying_system.name, count: session.item_count }));
  $("result-detail").textContent = [
    `${t("confirmationCode")} ${session.confirmation_code}`,
    session.completed_at ? `${statusText(session)} ${formatDateTime(session.completed_at)}` : "",
  ]
    .filter(Boolean)
    .join(" · ");
  state.current = session.id;
  show("result", { focus });
  if (focus) announce(`${$("result-title").textContent}. ${$("result-text").textContent}`);
}

function otpError(text) {
  const hint = $("otp-hint");
  hint.textContent = text;
  hint.dataset.kind = "error";
  $("otp").setAttribute("aria-invalid", "true");
  $("otp").focus();
  announce(text);
}

async function confirmCurrent(event) {
  event.preventDefault();
  const id = state.current;
  const session = state.pending.get(id);
  if (!session || state.busy.has(id)) return;
  const code = $("otp").value.replace(/\s/g, "");
  if (!/^\d{6}$/.test(code)) {
    otpError(t("codeFormat"));
    return;
  }
  await settle(id, session, `sessions/${encodeURIComponent(id)}/confirm`, { code });
}

async function settle(id, session, path, body) {
  // One confirm or reject at a time per request; the form is live again before any message shows,
  // so focus can go back to the code field.
  state.busy.add(id);
  setBusy(true);
  let done = null;
  let failure = null;
  try {
    done = await api(path, { method: "POST", body });
  } catch (error) {
    failure = error;
  }
  state.busy.delete(id);
  setBusy(false);
  if (done) {
    state.pending.delete(id);
    upsert(done);
    showOutcome(done);
  } else {
    await confirmFailed(id, session, failure);
  }
}

async function confirmFailed(id, session, error) {
  if (error.code === "invalid_otp") {
    const attempts = (state.attempts.get(id) || 0) + 1;
    state.attempts.set(id, attempts);
    // The fifth wrong code fails the request on the server: read its state to tell which.
    const fresh = await api(`sessions/${encodeURIComponent(id)}`).catch(() => null);
    if (fresh && fresh.status !== "pending") {
      state.pending.delete(id);
      upsert(fresh);
      showOutcome(fresh, fresh.status === "failed" ? { key: "tooManyWrong" } : null);
      return;
    }
    $("otp").value = "";
    otpError(t("wrongCode", { left: Math.max(1, MAX_ATTEMPTS - attempts) }));
  } else if (error.code === "device_locked") {
    const seconds = Number(error.extra.retry_after) || 60;
    otpError(t("deviceLocked", { time: minutesSeconds(seconds) }));
  } else if (error.code === "passkey_required") {
    otpError(state.security.passkeys.length ? t("passkeyRequired") : t("passkeyRequiredNone"));
  } else if (error.code === "session_expired") {
    state.pending.delete(id);
    showOutcome({ ...session, status: "expired" });
  } else if (error.status === 409 && error.extra.status_value) {
    // Already finished (e.g. confirmed a moment ago): nothing is signed twice; show what happened.
    const fresh = await api(`sessions/${encodeURIComponent(id)}`).catch(() => null);
    state.pending.delete(id);
    const known = fresh || { ...session, status: error.extra.status_value };
    upsert(known);
    showOutcome(known, { key: "alreadyDone", status: known.status });
  } else if (error.code === "network") {
    otpError(t("offlineConfirm"));
    recheckWhenOnline(id);
  } else if (error.status === 404) {
    state.pending.delete(id);
    renderPending();
    otpError(t("notFound"));
  } else if (error.status !== 401) {
    otpError(t("serverError", { message: error.message }));
  }
}

function recheckWhenOnline(id) {
  // The answer was lost: the request may or may not be signed. Ask again until the server answers.
  const again = async () => {
    try {
      const fresh = await api(`sessions/${encodeURIComponent(id)}`);
      setLive(state.live === "offline" ? "reconnecting" : state.live);
      if (fresh.status !== "pending") {
        state.pending.delete(id);
        upsert(fresh);
        if (state.current === id) showOutcome(fresh);
      } else if (state.current === id) {
        $("otp-hint").textContent = t("backOnline");
        $("otp-hint").dataset.kind = "info";
        announce(t("backOnline"));
      }
    } catch (error) {
      if (error.code === "network") setTimeout(again, 2000);
    }
  };
  setTimeout(again, 2000);
}

async function rejectCurrent(event) {
  event.preventDefault();
  const id = state.current;
  const session = state.pending.get(id);
  if (!session || state.busy.has(id)) return;
  const select = $("reject-reason");
  const reason = select.options[select.selectedIndex].textContent;
  await settle(id, session, `sessions/${encodeURIComponent(id)}/reject`, { reason });
}

// ---------------------------------------------------------------- history

async function loadHistory() {
  try {
    const data = await api("sessions?state=history&limit=50");
    state.history = data.sessions;
  } catch (error) {
    if (error.code === "network") announce(t("connOffline"));
  }
  renderHistory();
}

function renderHistory() {
  const list = $("history-list");
  list.replaceChildren(
    ...state.history.map((s) =>
      node(
        "li",
        { class: "card", "data-session": s.id, "data-status": s.status },
        node(
          "div",
          { class: "card-head" },
          node("h2", { class: "card-title", text: s.relying_system.name }),
          node("span", { class: `badge badge-${s.status}`, text: statusText(s) }),
        ),
        node("p", { class: "card-docs", text: `${t("itemCount", { count: s.item_count })}:` }),
        node(
          "ul",
          { class: "card-docs docs" },
          ...(s.documents.length ? s.documents : [t("documentsUnnamed")]).map((name) => node("li", { text: name })),
        ),
        node("p", {
          class: "card-meta",
          text: `${t("confirmationCode")}: ${s.confirmation_code} · ${formatDateTime(s.completed_at || s.created_at)}`,
        }),
        s.reason ? node("p", { class: "card-meta", text: `${t("reason")}: ${reasonText(s.reason)}` }) : null,
      ),
    ),
  );
  $("history-empty").hidden = state.history.length > 0;
}

// ---------------------------------------------------------------- live updates: server-sent events, then polling
// The event stream is read with fetch rather than EventSource, so the device token travels in the
// Authorization header and never in a URL that proxies and access logs keep.

let stream = null; // AbortController of the open stream
let pollTimer = null;
let reconnectTimer = null;
let retryMs = 3000; // the server's `retry:` advice

function startLive() {
  stopLive();
  if (!state.device) return;
  if (!globalThis.ReadableStream || !globalThis.TextDecoderStream) {
    startPolling();
    return;
  }
  const controller = new AbortController();
  stream = controller;
  readStream(controller)
    .catch(() => undefined)
    .finally(() => {
      if (stream !== controller || !state.device) return; // stopped, replaced or unpaired
      stream = null;
      // Closed or refused (offline, a proxy that buffers, a restart): poll meanwhile, retry soon.
      if (state.live === "live") setLive("reconnecting");
      startPolling();
      reconnectTimer = setTimeout(startLive, retryMs);
    });
}

async function readStream(controller) {
  const response = await fetch(new URL("events", API), {
    headers: { Accept: "text/event-stream", Authorization: `Bearer ${state.device.token}` },
    cache: "no-store",
    credentials: "omit",
    signal: controller.signal,
  });
  if (!response.ok || !response.body) {
    const data = await response.json().catch(() => null);
    if (response.status === 401 && data && data.error === "invalid_device") forgetDevice(true);
    return;
  }
  setLive("live");
  stopPolling();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      handleEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}

function handleEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // comments are keep-alives
    const at = line.indexOf(":");
    const key = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (key === "event") name = value;
    else if (key === "data") data.push(value);
    else if (key === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
  }
  if (!data.length) return;
  const payload = JSON.parse(data.join("\n"));
  if (name === "snapshot") replacePending(payload.sessions);
  else if (name === "session") upsert(payload);
}

function stopLive() {
  const open = stream;
  stream = null;
  if (open) open.abort();
  clearTimeout(reconnectTimer);
  stopPolling();
}

function startPolling() {
  if (pollTimer) return;
  const poll = async () => {
    try {
      const data = await api("sessions?state=pending");
      for (const s of data.sessions) {
        const known = state.pending.get(s.id);
        if (!known) upsert(s);
      }
      for (const id of [...state.pending.keys()]) {
        if (!data.sessions.some((s) => s.id === id) && !state.busy.has(id)) {
          const fresh = await api(`sessions/${encodeURIComponent(id)}`).catch(() => null);
          if (fresh) upsert(fresh);
        }
      }
      if (state.live !== "live") setLive("polling");
    } catch (error) {
      if (error.code !== "network") setLive("polling");
    }
  };
  poll();
  pollTimer = setInterval(poll, POLL_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

// ---------------------------------------------------------------- codes made by the app

// `totp`: the paired device's generator, or while pairing the one being paired (state.pairing.totp:
// state.totp exists only once pairing is done, so reading it there made "Fill in code" do nothing).
async function currentCode(totp) {
  if (!totp) return null;
  let now = await totpNow(totp.key, totp);
  if (now.step <= state.lastStep) return { ...now, wait: now.secondsLeft };
  return now;
}

async function fillCode(input, hint, totp = state.totp) {
  const now = await currentCode(totp);
  if (!now) return;
  if (now.wait) {
    // This code was already used: the server accepts each code once. Wait for the next one.
    hint.textContent = t("waitNextCode", { seconds: now.wait });
    hint.dataset.kind = "info";
    announce(hint.textContent);
    setTimeout(() => fillCode(input, hint, totp), now.wait * 1000 + 200);
    return;
  }
  input.value = now.code;
  input.removeAttribute("aria-invalid");
  state.lastStep = now.step;
  await store.set("lastStep", now.step);
  hint.textContent = t("codeFilled", { seconds: now.secondsLeft });
  hint.dataset.kind = "info";
}

async function updateGenerator() {
  if (state.view !== "settings") return;
  // The code shows only after the PIN or the passkey (UNLOCK_MS), never merely because the phone is unlocked.
  const unlocked = Boolean(state.totp) && Date.now() < state.unlockedUntil;
  $("gen-box").hidden = !unlocked;
  $("gen-locked").hidden = unlocked || !state.sealed;
  if (!unlocked) {
    const canUnlock = state.security.has_pin || state.security.passkeys.length > 0;
    $("gen-locked-text").textContent = canUnlock ? t("codesLocked") : t("codesNoUnlock");
    $("gen-unlock").hidden = !canUnlock;
    return;
  }
  const now = await totpNow(state.totp.key, state.totp);
  $("gen-code").textContent = `${now.code.slice(0, 3)} ${now.code.slice(3)}`;
  $("gen-left").textContent = t("codeChangesIn", { seconds: now.secondsLeft });
}

// ---------------------------------------------------------------- pairing

function pairingToken() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = hash.get("pair");
  if (token) history.replaceState(null, "", location.pathname + location.search);
  return token;
}

function tokenFromLink(text) {
  const value = text.trim();
  const match = value.match(/[#&?]pair=([A-Za-z0-9_-]+)/);
  if (match) return match[1];
  return /^[A-Za-z0-9_-]{16,200}$/.test(value) ? value : null;
}

async function beginPairing(token) {
  show("pair");
  const result = $("pair-result");
  message(result, "");
  $("pair-intro").hidden = true;
  try {
    const info = await api("pair/start", { method: "POST", body: { enrollment_token: token }, auth: false });
    let totp = null;
    if (canGenerate()) {
      try {
        const parsed = parseOtpauth(info.otpauth_uri);
        totp = {
          key: await importSecret(parsed.secret),
          digits: parsed.digits,
          period: parsed.period,
          secret: parsed.secret, // sealed under the code key once paired, then dropped
        };
      } catch {
        totp = null;
      }
    }
    state.pairing = { token, info, totp };
    $("src-app").disabled = !totp;
    $("src-app").checked = Boolean(totp);
    $("src-other").checked = !totp;
    $("device-name").value = $("device-name").value || defaultDeviceName();
    $("pair-code").value = "";
    $("pair-pin").value = "";
    $("pair-passkey-wrap").hidden = !(await passkey.available());
    renderPairing();
    $("pair-form").hidden = false;
    $("pair-title").focus();
  } catch (error) {
    $("pair-intro").hidden = false;
    $("pair-form").hidden = true;
    message(result, pairErrorText(error));
    result.focus?.();
  }
}

function renderPairing() {
  const info = state.pairing.info;
  $("pair-for").textContent = t("pairFor", { name: info.user_name, issuer: info.issuer });
  $("pair-expiry").textContent = info.expires_at ? t("pairExpires", { time: formatDateTime(info.expires_at) }) : "";
  updatePairSource();
}

function defaultDeviceName() {
  const platform = navigator.userAgentData?.platform || "";
  return platform ? `${t("phone")} (${platform})` : t("phone");
}

function updatePairSource() {
  const fromApp = $("src-app").checked && state.pairing?.totp;
  $("pair-fill").hidden = !fromApp;
  $("pair-pin-box").hidden = !fromApp; // the PIN unlocks the codes this app makes
  // With one's own authenticator: the otpauth link opens it; the key is there to type by hand.
  const uri = state.pairing?.info.otpauth_uri || "";
  $("authenticator-box").hidden = Boolean(fromApp) || !uri;
  $("authenticator-link").href = uri.startsWith("otpauth://") ? uri : "#";
  const secret = new URLSearchParams(uri.split("?")[1] || "").get("secret") || "";
  $("authenticator-secret").textContent = secret.replace(/(.{4})/g, "$1 ").trim();
  $("pair-code-hint").textContent = fromApp ? t("firstCodeHintApp") : t("firstCodeHint");
  $("pair-code-hint").dataset.kind = "";
}

function pairErrorText(error) {
  if (error.code === "invalid_enrollment") return t("pairLinkInvalid");
  if (error.code === "invalid_otp") return t("pairWrongCode");
  if (error.code === "network") return t("offline");
  return t("serverError", { message: error.message });
}

async function finishPairing(event) {
  event.preventDefault();
  const pairing = state.pairing;
  if (!pairing) return;
  const code = $("pair-code").value.replace(/\s/g, "");
  const result = $("pair-result");
  if (!/^\d{6}$/.test(code)) {
    message(result, t("codeFormat"));
    $("pair-code").setAttribute("aria-invalid", "true");
    $("pair-code").focus();
    return;
  }
  const fromApp = $("src-app").checked && pairing.totp;
  const pin = fromApp ? $("pair-pin").value.trim() : "";
  if (pin && !/^\d{4,12}$/.test(pin)) {
    message(result, t("pinFormat"));
    $("pair-pin").setAttribute("aria-invalid", "true");
    $("pair-pin").focus();
    return;
  }
  $("pair-submit").disabled = true;
  // Only a name the user typed replaces the one the administrator gave the device ("iPhone của An");
  // the prefilled guess ("Điện thoại (Linux)") does not.
  const typed = $("device-name").value.trim();
  const chosenName = typed && typed !== defaultDeviceName() ? typed : "";
  try {
    const paired = await api("pair", {
      method: "POST",
      auth: false,
      body: { enrollment_token: pairing.token, code, ...(chosenName ? { device_name: chosenName } : {}) },
    });
    const device = {
      token: paired.device_token,
      deviceId: paired.device_id,
      userName: paired.user_name,
      deviceName: chosenName,
    };
    await store.set("device", device);
    // The app's codes: the secret is kept only encrypted under the code key, which the server gives
    // back after the PIN or the passkey; the key and the plain secret are forgotten here.
    let sealed = null;
    if (fromApp) {
      const codeKey = await passkey.codeKeyOf(pairing.totp.secret);
      sealed = { ...(await passkey.seal(pairing.totp.secret, codeKey)), digits: pairing.totp.digits, period: pairing.totp.period };
    }
    await store.set("sealedTotp", sealed);
    // The step of a code this app filled in is already in state.lastStep (a code counts once).
    await store.set("lastStep", state.lastStep);
    state.device = device;
    try {
      device.deviceName = (await api("me")).device_name || chosenName; // the name the server keeps
      await store.set("device", device);
    } catch {
      // offline right after pairing: the typed name, if any, until the next start
    }
    state.sealed = sealed;
    state.totp = null;
    const wantsPasskey = !$("pair-passkey-wrap").hidden && $("pair-passkey").checked;
    state.pairing = null;
    if (pin) await api("pin", { method: "POST", body: { pin } }).catch(() => undefined);
    message(result, "");
    $("pair-form").hidden = true;
    $("pair-intro").hidden = false;
    enterApp();
    announce(t("pairedAs", { name: device.userName }));
    if (wantsPasskey) registerPasskey();
  } catch (error) {
    message(result, pairErrorText(error));
    if (error.code === "invalid_enrollment") {
      $("pair-form").hidden = true;
      $("pair-intro").hidden = false;
    } else {
      $("pair-code").value = "";
      $("pair-code").focus();
    }
  } finally {
    $("pair-submit").disabled = false;
  }
}

async function forgetDevice(revoked = false) {
  stopLive();
  await store.clear();
  state.device = null;
  state.totp = null;
  state.sealed = null;
  state.security = { passkeys: [], has_pin: false, push_public_key: null };
  state.pending.clear();
  state.history = [];
  show("pair");
  $("pair-intro").hidden = false;
  $("pair-form").hidden = true;
  message($("pair-result"), revoked ? t("deviceRevoked") : "", "info");
}

// ---------------------------------------------------------------- start

function enterApp() {
  $("set-user").textContent = state.device.userName;
  $("set-device").textContent = state.device.deviceName || "—";
  show("pending");
  renderPending();
  startLive();
  loadSecurity();
}

function showSettings() {
  show("settings");
  setLive(state.live);
  updateGenerator();
  loadSystems();
  loadSecurity();
}

function bind() {
  $("lang").addEventListener("change", async (event) => {
    const deviceName = $("device-name");
    const untouched = deviceName.value === defaultDeviceName();
    await i18n.load(event.target.value);
    i18n.apply();
    if (untouched) deviceName.value = defaultDeviceName();
    setLive(state.live);
    renderPending();
    renderHistory();
    if (state.view === "request" && state.current) rerenderRequest();
    if (state.device) renderSecurity();
    if (state.view === "result" && state.outcome) showOutcome(state.outcome.session, state.outcome.note, { focus: false });
    if (state.pairing) renderPairing();
    if (state.pinNote) setPinNote(state.pinNote);
  });
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      const view = tab.dataset.view;
      if (view === "settings") showSettings();
      else show(view);
      if (view === "history") loadHistory();
    });
  }
  $("pending-list").addEventListener("click", (event) => {
    const button = event.target.closest("[data-open]");
    if (button) openRequest(button.dataset.open);
  });
  for (const back of document.querySelectorAll("[data-back]")) {
    back.addEventListener("click", () => {
      show("pending");
      renderPending();
    });
  }
  $("confirm-form").addEventListener("submit", confirmCurrent);
  $("reject-form").addEventListener("submit", rejectCurrent);
  $("otp-fill").addEventListener("click", async () => {
    if (await unlockCodes()) fillCode($("otp"), $("otp-hint"));
  });
  $("passkey-btn").addEventListener("click", confirmWithPasskey);
  $("passkey-register").addEventListener("click", registerPasskey);
  $("gen-unlock").addEventListener("click", unlockCodes);
  $("unlock-form").addEventListener("submit", unlockWithPin);
  $("unlock-passkey").addEventListener("click", unlockWithPasskey);
  $("unlock-cancel").addEventListener("click", () => closeUnlock(false));
  $("unlock-dialog").addEventListener("close", () => closeUnlock(false));
  $("push-enable").addEventListener("click", enablePush);
  $("pin-change-open").addEventListener("click", openPinChange);
  $("pin-back").addEventListener("click", showSettings);
  $("pin-form").addEventListener("submit", changePin);
  $("pair-fill").addEventListener("click", () => fillCode($("pair-code"), $("pair-code-hint"), state.pairing?.totp));
  $("pair-form").addEventListener("submit", finishPairing);
  $("src-app").addEventListener("change", updatePairSource);
  $("src-other").addEventListener("change", updatePairSource);
  $("pair-link-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = tokenFromLink($("pair-link").value);
    if (!token) {
      message($("pair-result"), t("pairLinkInvalid"));
      return;
    }
    beginPairing(token);
  });
  $("systems-list").addEventListener("click", (event) => {
    const button = event.target.closest("[data-withdraw]");
    if (button) withdrawSystem(button.dataset.withdraw, button.dataset.name);
  });
  $("unpair").addEventListener("click", () => {
    if (confirm(t("unpairConfirm"))) forgetDevice(false);
  });
  window.addEventListener("hashchange", () => {
    const token = pairingToken();
    if (token) beginPairing(token);
  });
  window.addEventListener("online", () => state.device && startLive());
}

async function main() {
  const lang = await i18n.load(i18n.remembered());
  $("lang").value = lang;
  i18n.apply();
  bind();
  state.device = (await store.get("device")) || null;
  state.sealed = (await store.get("sealedTotp")) || null;
  if (await store.get("totp")) await store.set("totp", null); // an unsealed key of an older version: dropped
  state.lastStep = (await store.get("lastStep")) ?? -1;
  const token = pairingToken();
  if (token) await beginPairing(token);
  else if (state.device) enterApp();
  else show("pair", { focus: false });
  setInterval(tick, 1000);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => undefined);
  document.body.dataset.ready = "true";
}

main();
