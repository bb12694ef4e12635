// Service worker: makes the app installable and lets its shell open without a network. The shell
// is fetched from the network first (so a new release shows at once) and from the cache only when
// offline. API calls are never cached or touched: a signing request must be live or nothing.
// Web Push: a new request shows a notification while the app is closed; tapping it opens the app.

const CACHE = "esign-mobile-v2";
const SHELL = [
  "./",
  "index.html",
  "app.js",
  "i18n.js",
  "passkey.js",
  "signer.js",
  "store.js",
  "totp.js",
  "styles.css",
  "manifest.webmanifest",
  "i18n/vi.json",
  "i18n/en.json",
  "icons/icon.svg",
  "icons/icon-192.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  const scope = new URL(self.registration.scope);
  if (request.method !== "GET" || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(request, copy));
        }
        return response;
      })
      .catch(() => caches.match(request, { ignoreSearch: true }).then((hit) => hit || Response.error())),
  );
});

self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = {};
  }
  const title = message.title || "esign";
  event.waitUntil(
    self.registration.showNotification(title, {
      body: message.body || "",
      tag: message.session_id ? `session-${message.session_id}` : "esign",
      icon: "icons/icon-192.png",
      data: { session_id: message.session_id || null },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const scope = self.registration.scope;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => w.url.startsWith(scope));
      return open ? open.focus() : self.clients.openWindow(scope);
    }),
  );
});
