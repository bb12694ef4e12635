// The device's keepsakes (device token, the TOTP key as a CryptoKey, the last time step used) in
// IndexedDB, which can hold a non-extractable CryptoKey; falls back to memory when unavailable.

const DB_NAME = "esign-mobile";
const STORE = "kv";
const memory = new Map();
let dbPromise = null;

function open() {
  if (!globalThis.indexedDB) return Promise.resolve(null);
  if (!dbPromise) {
    dbPromise = new Promise((resolve) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(null);
    });
  }
  return dbPromise;
}

function run(mode, action) {
  return open().then(
    (db) =>
      new Promise((resolve, reject) => {
        if (!db) {
          resolve(action(null));
          return;
        }
        const tx = db.transaction(STORE, mode);
        const request = action(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(request ? request.result : undefined);
        tx.onerror = () => reject(tx.error);
      }),
  );
}

/** The value stored under ``key`` (undefined when none). */
export function get(key) {
  return run("readonly", (s) => (s ? s.get(key) : { result: memory.get(key) }));
}

/** Store ``value`` under ``key``. */
export function set(key, value) {
  return run("readwrite", (s) => (s ? s.put(value, key) : (memory.set(key, value), null)));
}

/** Forget everything this app keeps on the phone. */
export function clear() {
  return run("readwrite", (s) => (s ? s.clear() : (memory.clear(), null)));
}
