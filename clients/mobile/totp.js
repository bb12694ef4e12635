// TOTP (RFC 6238, HMAC-SHA-1 per RFC 4226) with Web Crypto, so the phone needs no separate
// authenticator. The secret is imported as a non-extractable CryptoKey: once stored, script can
// use it to make codes but can never read it back.

const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Decode RFC 4648 base32 (case-insensitive, padding and spaces ignored). */
export function base32Decode(text) {
  const clean = text.toUpperCase().replace(/[\s=-]/g, "");
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const index = B32.indexOf(ch);
    if (index < 0) throw new Error("invalid base32");
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return new Uint8Array(out);
}

/** Read an otpauth://totp/ URI: the secret bytes and the parameters (only SHA1 is supported). */
export function parseOtpauth(uri) {
  if (!/^otpauth:\/\/totp\//i.test(uri)) throw new Error("not an otpauth TOTP URI");
  const params = new URLSearchParams(uri.split("?")[1] || "");
  const algorithm = (params.get("algorithm") || "SHA1").toUpperCase();
  if (algorithm !== "SHA1") throw new Error("unsupported algorithm " + algorithm);
  return {
    secret: base32Decode(params.get("secret") || ""),
    digits: Number(params.get("digits") || 6),
    period: Number(params.get("period") || 30),
    issuer: params.get("issuer") || "",
  };
}

/** Whether this browser can make codes (Web Crypto needs a secure context: HTTPS or loopback). */
export function canGenerate() {
  return Boolean(globalThis.crypto && crypto.subtle && globalThis.isSecureContext);
}

/** Import the secret as a non-extractable HMAC-SHA-1 key. */
export function importSecret(secret) {
  return crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
}

/** The code for time step ``step`` (HOTP with dynamic truncation). */
export async function hotp(key, step, digits = 6) {
  const counter = new ArrayBuffer(8);
  const view = new DataView(counter);
  view.setUint32(0, Math.floor(step / 2 ** 32));
  view.setUint32(4, step >>> 0);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, counter));
  const offset = mac[mac.length - 1] & 0x0f;
  const binary =
    ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(binary % 10 ** digits).padStart(digits, "0");
}

/** The current code, its time step and the seconds until the next one. */
export async function totpNow(key, { period = 30, digits = 6 } = {}, nowMs = Date.now()) {
  const seconds = nowMs / 1000;
  const step = Math.floor(seconds / period);
  return { code: await hotp(key, step, digits), step, secondsLeft: Math.ceil((step + 1) * period - seconds) };
}
