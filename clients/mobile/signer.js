// Who signs: the certificate holder's name and identifiers, personal numbers masked the way the
// library's esign.identity does (12 digits keep 4 + 2: CCCD 0010******89; 9-10 digits keep 2 + 2).

/** Split an RFC 4514 distinguished name (``CN=A\\, B,UID=CCCD:0012...``) into [type, value] pairs. */
export function parseDN(dn) {
  const parts = [];
  let buffer = "";
  for (let i = 0; i < dn.length; i += 1) {
    const ch = dn[i];
    if (ch === "\\" && i + 1 < dn.length) {
      buffer += dn[i + 1];
      i += 1;
    } else if (ch === "," || ch === "+") {
      parts.push(buffer);
      buffer = "";
    } else {
      buffer += ch;
    }
  }
  if (buffer) parts.push(buffer);
  return parts
    .map((part) => {
      const at = part.indexOf("=");
      return at < 0 ? null : [part.slice(0, at).trim().toUpperCase(), part.slice(at + 1).trim()];
    })
    .filter(Boolean);
}

function hide(value, keepStart, keepEnd) {
  const hidden = value.length - keepStart - keepEnd;
  if (hidden <= 0) return "*".repeat(value.length);
  return value.slice(0, keepStart) + "*".repeat(hidden) + value.slice(value.length - keepEnd);
}

/** Mask a personal number: ``001203012389`` -> ``0012******89``. */
export function maskNumber(value) {
  if (value.length === 12) return hide(value, 4, 2);
  if (value.length === 9 || value.length === 10) return hide(value, 2, 2);
  return value.length > 4 ? hide(value, 1, 2) : "*".repeat(value.length);
}

const PERSONAL = new Set(["CCCD", "CMND", "HC"]);

function maskIdentifier(kind, value) {
  // A branch tax code keeps its public branch suffix: 01******06-001.
  const branch = kind === "MST" && /^\d{10}-\d{3}$/.test(value);
  return branch ? maskNumber(value.slice(0, 10)) + value.slice(10) : maskNumber(value);
}

/** The signer of a certificate subject: ``{name, ids: ["CCCD 0012******89"], organization}``. */
export function signerOf(subject) {
  const pairs = parseDN(subject || "");
  const first = (type) => (pairs.find(([k]) => k === type) || [])[1] || "";
  const ids = [];
  // RFC 4514 writes the last attribute first: reverse to list identifiers in certificate order.
  const uids = [...pairs]
    .reverse()
    .filter(([type]) => type === "UID" || type === "0.9.2342.19200300.100.1.1")
    .map(([, value]) => (value.includes(":") ? value.split(/:(.*)/s) : ["", value]))
    .map(([prefix, number]) => [prefix.toUpperCase(), (number || "").replace(/\s/g, "")]);
  // A person's tax code is personal data whatever its length.
  const person = uids.some(([kind]) => PERSONAL.has(kind));
  for (const [kind, digits] of uids) {
    const personal = PERSONAL.has(kind) || (kind === "MST" && (person || /^\d{12}$/.test(digits)));
    ids.push(`${kind || "ID"} ${personal ? maskIdentifier(kind, digits) : digits}`);
  }
  const organization = first("O");
  return { name: first("CN") || organization, ids, organization };
}

/** The readable name of a certificate issuer (its CN, else its O). */
export function issuerName(issuer) {
  const pairs = parseDN(issuer || "");
  const find = (type) => (pairs.find(([k]) => k === type) || [])[1];
  return find("CN") || find("O") || issuer || "";
}
