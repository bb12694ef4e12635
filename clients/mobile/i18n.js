// Translations: Vietnamese by default, English selectable; the choice is remembered on the phone.

export const LANGUAGES = ["vi", "en"];
let messages = {};
let current = "vi";
const catalogs = {}; // every language's messages, to read back texts written in another language

/** The language in use. */
export function lang() {
  return current;
}

/** Load ``code``'s messages (i18n/<code>.json) and make it the current language. */
export async function load(code) {
  const chosen = LANGUAGES.includes(code) ? code : "vi";
  const response = await fetch(new URL(`i18n/${chosen}.json`, import.meta.url), { cache: "no-cache" });
  messages = await response.json();
  catalogs[chosen] = messages;
  current = chosen;
  for (const other of LANGUAGES.filter((code) => !(code in catalogs))) {
    try {
      const answer = await fetch(new URL(`i18n/${other}.json`, import.meta.url), { cache: "no-cache" });
      catalogs[other] = await answer.json();
    } catch {
      // offline: texts in that language are shown as written
    }
  }
  document.documentElement.lang = chosen;
  try {
    localStorage.setItem("esign.lang", chosen);
  } catch {
    // private mode: the choice lasts for this visit only
  }
  return chosen;
}

/** The language chosen before, or Vietnamese. */
export function remembered() {
  try {
    return localStorage.getItem("esign.lang") || "vi";
  } catch {
    return "vi";
  }
}

/** The message ``key`` with ``{name}`` placeholders filled from ``params``. */
export function t(key, params = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

/** Translate every ``data-i18n`` element (text) and ``data-i18n-aria-label`` (attribute) under ``root``. */
export function apply(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  }
  document.title = t("title");
}

/** The key among ``keys`` whose message, in any language, is ``text`` (or null). */
export function keyOfText(text, keys) {
  for (const key of keys) {
    if (Object.values(catalogs).some((catalog) => catalog[key] === text)) return key;
  }
  return null;
}

// One form for every date on screen, in both languages: 05/12/2026 and 05/12/2026 14:03.
const DATE = { day: "2-digit", month: "2-digit", year: "numeric" };
const TIME = { hour: "2-digit", minute: "2-digit", hour12: false };

function pad(value, options) {
  return new Intl.DateTimeFormat("en-GB", options).format(new Date(value));
}

/** A date and time, ``dd/mm/yyyy HH:MM`` in either language. */
export function formatDateTime(value) {
  if (!value) return "";
  return `${pad(value, DATE)} ${pad(value, TIME)}`;
}

/** A date, ``dd/mm/yyyy`` in either language. */
export function formatDate(value) {
  if (!value) return "";
  return pad(value, DATE);
}
