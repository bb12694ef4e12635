// Passkeys (WebAuthn) for the app: turn the server's JSON options into what the browser takes, ask the
// phone's own user verification (face, fingerprint, screen lock), and hand the answer back as JSON.
// Also the code key: the app's TOTP secret is kept encrypted under a key only the server gives back
// after a PIN or a passkey, so the app's codes never show on a phone that is merely unlocked.

const te = new TextEncoder();

/** base64url (no padding) to bytes. */
export function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** bytes to base64url (no padding). */
export function toB64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Whether this browser can use a platform passkey with user verification here. */
export async function available() {
  if (!globalThis.PublicKeyCredential || !globalThis.isSecureContext) return false;
  try {
    return await PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable();
  } catch {
    return false;
  }
}

function descriptors(list) {
  return (list || []).map((d) => ({ ...d, id: fromB64url(d.id) }));
}

function credentialJSON(credential) {
  const r = credential.response;
  const response = { clientDataJSON: toB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64url(r.attestationObject);
    if (r.getTransports) response.transports = r.getTransports();
  } else {
    response.authenticatorData = toB64url(r.authenticatorData);
    response.signature = toB64url(r.signature);
    response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
  }
  return {
    id: credential.id,
    rawId: toB64url(credential.rawId),
    type: credential.type,
    response,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
  };
}

/** Create a passkey from registration options (``public_key`` of the server's answer). */
export async function create(options) {
  const publicKey = {
    ...options,
    challenge: fromB64url(options.challenge),
    user: { ...options.user, id: fromB64url(options.user.id) },
    excludeCredentials: descriptors(options.excludeCredentials),
  };
  return credentialJSON(await navigator.credentials.create({ publicKey }));
}

/** Answer a challenge (``public_key`` of the server's answer) with a passkey, user verification required. */
export async function get(options) {
  const publicKey = {
    ...options,
    challenge: fromB64url(options.challenge),
    allowCredentials: descriptors(options.allowCredentials),
  };
  return credentialJSON(await navigator.credentials.get({ publicKey }));
}

// ---------------------------------------------------------------- the code key

/** The code key of a TOTP secret: HMAC-SHA256(secret, "esign-app-code-key"), as the server computes it. */
export async function codeKeyOf(secretBytes) {
  const key = await crypto.subtle.importKey("raw", secretBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, te.encode("esign-app-code-key")));
}

function aesKey(codeKey) {
  return crypto.subtle.importKey("raw", codeKey, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** Encrypt the TOTP secret under the code key (AES-GCM): what the phone keeps. */
export async function seal(secretBytes, codeKey) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await aesKey(codeKey), secretBytes));
  return { iv: toB64url(iv), ct: toB64url(ct) };
}

/** Decrypt the kept secret with the code key the server gave back. */
export async function open(sealed, codeKey) {
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromB64url(sealed.iv) },
    await aesKey(codeKey),
    fromB64url(sealed.ct),
  );
  return new Uint8Array(plain);
}
