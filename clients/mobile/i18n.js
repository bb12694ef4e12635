// Translations: Vietnamese by default, English selectable; the choice is remembered on the phone.

export const LANGUAGES = ["vi", "en"];
let messages = {};
let current = "vi";

/** The language in use. */
export function lang() {
  return current;
}

/** Load ``code``'s messages (i18n/<code>.json) and make it the current language. */
export async function load(code) {
  const chosen = LANGUAGES.includes(code) ? code : "vi";
  const response = await fetch(new URL(`i18n/${chosen}.json`, import.meta.url), { cache: "no-cache" });
  messages = await response.json();
  current = chosen;
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

/** A date and time in the current language. */
export function formatDateTime(value) {
  if (!value) return "";
  return new Intl.DateTimeFormat(current === "vi" ? "vi-VN" : "en-GB", {
    dateStyle: "short",
    timeStyle: "short",
  }).format(new Date(value));
}

/** A date in the current language. */
export function formatDate(value) {
  if (!value) return "";
  return new Intl.DateTimeFormat(current === "vi" ? "vi-VN" : "en-GB", { dateStyle: "medium" }).format(
    new Date(value),
  );
}
