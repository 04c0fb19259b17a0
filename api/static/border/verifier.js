/*
 * NatID border verifier: HCERT (EU DCC) verification in the browser, with no network.
 *
 * The same checks, in the same order and with the same reason codes, as the server's verifier
 * (vaccine_cert/verify.py), so an officer sees the same answer offline as online:
 *
 * 1. decode    - "HC1:" prefix; Base45 (RFC 9285); zlib (RFC 1950) through the browser's
 *                DecompressionStream("deflate"), stopped at 64 KiB (a zip bomb costs no more);
 *                CBOR (RFC 8949) with a depth limit of 16 and no duplicate map keys;
 *                COSE_Sign1 (RFC 9052 §4.2, tag 18, optionally inside CWT tag 61); CWT claims
 *                (RFC 8392 §3.1: 1 iss, 4 exp, 6 iat, -260 hcert {1: DCC}).
 * 2. signature - kid (protected header first, 8 bytes) looked up among the trusted DSCs (every
 *                DSC with that kid is tried, HCERT "Key Identifier"); alg ES256 (-7) or
 *                PS256 (-37); Sig_structure (RFC 9052 §4.4) verified with WebCrypto - ECDSA
 *                P-256 takes the raw r||s signature COSE carries (RFC 9053 §2.1), RSA-PSS a
 *                32-byte salt (RFC 8230 §2); the DSC's extended key usage, if it has DCC purpose
 *                OIDs, must allow the credential's kind (HCERT Appendix A).
 * 3. expiry    - iat <= now <= exp, and now inside the DSC's validity.
 * 4. schema    - REDUCED here: the fields the DCC schema 1.3 requires and their types. The page
 *                asks the server (POST /health/v1/verify) for the full JSON-schema check when it
 *                is online and says which of the two it used.
 * 5. revocation - the DCC revocation hashes (UCI, COUNTRYCODEUCI, SIGNATURE: first 16 bytes of
 *                SHA-256, vaccine_cert/revocation.py) looked up under the signer's kid in the
 *                cached revocation list.
 *
 * Checks 3-5 run only after the signature passed (HCERT "Input Data Validation"), and the holder
 * (name, date of birth) is returned only then: a credential whose signature fails could name
 * anyone, and the page does not show what nobody vouches for. The rest (kind, entry, dates) is
 * as read, for the checks; the page shows it only beside a holder.
 * Trusted DSCs come from the cached trust list; each certificate is parsed here (DER) and its
 * kid recomputed from its bytes, so a list entry cannot claim a kid it does not have.
 */
(function (global) {
  "use strict";

  const MAX_PAYLOAD_CHARS = 16 * 1024;
  const MAX_INFLATED = 64 * 1024;
  const MAX_DEPTH = 16;
  const KID_LENGTH = 8;
  const ES256 = -7;
  const PS256 = -37;
  const PURPOSES = {
    "1.3.6.1.4.1.1847.2021.1.1": "t", "1.3.6.1.4.1.1847.2021.1.2": "v",
    "1.3.6.1.4.1.1847.2021.1.3": "r", "1.3.6.1.4.1.0.1847.2021.1.1": "t",
    "1.3.6.1.4.1.0.1847.2021.1.2": "v", "1.3.6.1.4.1.0.1847.2021.1.3": "r",
  };
  const REQUIRED = {
    v: ["tg", "vp", "mp", "ma", "dn", "sd", "dt", "co", "is", "ci"],
    t: ["tg", "tt", "sc", "tr", "co", "is", "ci"],
    r: ["tg", "fr", "co", "is", "df", "du", "ci"],
  };
  const INTEGERS = new Set(["dn", "sd"]);

  class DecodeError extends Error {
    constructor(stage, detail) { super(stage + ": " + detail); this.stage = stage; this.detail = detail; }
  }

  // --- Base45 (RFC 9285) ----------------------------------------------------------------------
  const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  function b45decode(text) {
    const out = new Uint8Array(Math.floor(text.length / 3) * 2 + 1);
    let n = 0;
    for (let i = 0; i < text.length; i += 3) {
      const chunk = text.slice(i, i + 3);
      if (chunk.length < 2) throw new DecodeError("base45", "a dangling single character");
      const v = [];
      for (const c of chunk) {
        const k = B45.indexOf(c);
        if (k < 0) throw new DecodeError("base45", "a character outside the Base45 alphabet");
        v.push(k);
      }
      const value = v[0] + v[1] * 45 + (v.length === 3 ? v[2] * 2025 : 0);
      if (v.length === 3) {
        if (value > 0xffff) throw new DecodeError("base45", "a triplet above 65535");
        out[n++] = value >> 8; out[n++] = value & 0xff;
      } else {
        if (value > 0xff) throw new DecodeError("base45", "a pair above 255");
        out[n++] = value;
      }
    }
    return out.slice(0, n);
  }

  // --- zlib, bounded ------------------------------------------------------------------------------
  async function inflate(bytes, limit) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    const reader = stream.getReader();
    const parts = [];
    let total = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.length;
        if (total > limit) {
          reader.cancel().catch(() => {});
          throw new DecodeError("zlib", "inflates to more than " + limit + " bytes; refused as a zip bomb");
        }
        parts.push(value);
      }
    } catch (err) {
      if (err instanceof DecodeError) throw err;
      throw new DecodeError("zlib", "not a complete, valid zlib stream");
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  // --- CBOR (RFC 8949), bounded ---------------------------------------------------------------
  class Tag { constructor(tag, value) { this.tag = tag; this.value = value; } }
  const UTF8 = new TextDecoder("utf-8", { fatal: true });

  function cborDecode(bytes, stage) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 0;
    const fail = (why) => { throw new DecodeError(stage, why); };
    const need = (n) => { if (pos + n > bytes.length) fail("CBOR ends early"); };
    function length(info) {
      if (info < 24) return info;
      if (info === 24) { need(1); return bytes[pos++]; }
      if (info === 25) { need(2); const v = view.getUint16(pos); pos += 2; return v; }
      if (info === 26) { need(4); const v = view.getUint32(pos); pos += 4; return v; }
      if (info === 27) {
        need(8); const hi = view.getUint32(pos), lo = view.getUint32(pos + 4); pos += 8;
        if (hi > 0x1fffff) fail("an integer beyond 2^53");
        return hi * 4294967296 + lo;
      }
      if (info === 31) return -1;
      fail("a reserved additional-information value");
    }
    function bytesOf(major, info) {
      const n = length(info);
      if (n < 0) {  // indefinite-length string: definite chunks of the same major type
        const chunks = [];
        for (;;) {
          need(1);
          if (bytes[pos] === 0xff) { pos++; break; }
          const b = bytes[pos++];
          if (b >> 5 !== major) fail("a bad chunk in an indefinite-length string");
          chunks.push(bytesOf(major, b & 31));
        }
        const total = chunks.reduce((s, c) => s + c.length, 0);
        const out = new Uint8Array(total); let at = 0;
        for (const c of chunks) { out.set(c, at); at += c.length; }
        return out;
      }
      need(n);
      const out = bytes.slice(pos, pos + n); pos += n; return out;
    }
    function item(depth) {
      if (depth > MAX_DEPTH) fail("nested deeper than " + MAX_DEPTH + " levels");
      need(1);
      const b = bytes[pos++], major = b >> 5, info = b & 31;
      switch (major) {
        case 0: { const n = length(info); if (n < 0) fail("indefinite integer"); return n; }
        case 1: { const n = length(info); if (n < 0) fail("indefinite integer"); return -1 - n; }
        case 2: return bytesOf(2, info);
        case 3: {
          try { return UTF8.decode(bytesOf(3, info)); } catch (e) {
            if (e instanceof DecodeError) throw e; fail("a text string that is not UTF-8");
          }
        }
        case 4: {
          const n = length(info), out = [];
          if (n < 0) { for (;;) { need(1); if (bytes[pos] === 0xff) { pos++; break; } out.push(item(depth + 1)); } }
          else { for (let i = 0; i < n; i++) out.push(item(depth + 1)); }
          return out;
        }
        case 5: {
          const n = length(info), out = new Map();
          const put = () => {
            const k = item(depth + 1);
            if (typeof k !== "number" && typeof k !== "string") fail("a map key that is not a number or text");
            if (out.has(k)) fail("a duplicate map key");
            out.set(k, item(depth + 1));
          };
          if (n < 0) { for (;;) { need(1); if (bytes[pos] === 0xff) { pos++; break; } put(); } }
          else { for (let i = 0; i < n; i++) put(); }
          return out;
        }
        case 6: { const t = length(info); if (t < 0) fail("indefinite tag"); return new Tag(t, item(depth + 1)); }
        default: {
          if (info === 20) return false;
          if (info === 21) return true;
          if (info === 22) return null;
          if (info === 23) return undefined;
          if (info === 25) { need(2); const h = view.getUint16(pos); pos += 2; return half(h); }
          if (info === 26) { need(4); const f = view.getFloat32(pos); pos += 4; return f; }
          if (info === 27) { need(8); const f = view.getFloat64(pos); pos += 8; return f; }
          fail("an unsupported simple value");
        }
      }
    }
    const value = item(1);
    if (pos !== bytes.length) fail((bytes.length - pos) + " bytes after the CBOR item");
    return value;
  }
  function half(h) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
    if (e === 0) return s * Math.pow(2, -14) * (f / 1024);
    if (e === 31) return f ? NaN : s * Infinity;
    return s * Math.pow(2, e - 15) * (1 + f / 1024);
  }

  // A minimal encoder: just what Sig_structure needs (array, text, bytes).
  function cborHead(major, n) {
    if (n < 24) return [(major << 5) | n];
    if (n < 256) return [(major << 5) | 24, n];
    if (n < 65536) return [(major << 5) | 25, n >> 8, n & 0xff];
    return [(major << 5) | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  }
  function sigStructure(protectedBytes, payload) {
    const context = new TextEncoder().encode("Signature1");
    const parts = [
      cborHead(4, 4), cborHead(3, context.length), context,
      cborHead(2, protectedBytes.length), protectedBytes, cborHead(2, 0),
      cborHead(2, payload.length), payload,
    ];
    const total = parts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(total); let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  // --- the HCERT layers -----------------------------------------------------------------------
  function toJson(value, depth) {
    if (depth > MAX_DEPTH) throw new DecodeError("cwt", "the DCC nests too deeply");
    if (value instanceof Tag) {
      if (value.tag === 0 && typeof value.value === "string") return value.value;
      throw new DecodeError("cwt", "the DCC holds a CBOR tag " + value.tag);
    }
    if (value instanceof Map) {
      const out = {};
      for (const [k, v] of value) {
        if (typeof k !== "string") throw new DecodeError("cwt", "the DCC has a map key that is not a text string");
        out[k] = toJson(v, depth + 1);
      }
      return out;
    }
    if (Array.isArray(value)) return value.map((v) => toJson(v, depth + 1));
    if (value === null || typeof value === "string" || typeof value === "boolean") return value;
    if (typeof value === "number" && Number.isFinite(value)) return value;
    throw new DecodeError("cwt", "the DCC holds a value JSON does not have");
  }

  async function decodeHc1(text) {
    if (typeof text !== "string") throw new DecodeError("prefix", "the payload is not text");
    text = text.trim();
    if (text.length > MAX_PAYLOAD_CHARS) throw new DecodeError("prefix", "the payload is longer than " + MAX_PAYLOAD_CHARS + " characters");
    if (!text.startsWith("HC1:")) throw new DecodeError("prefix", "the payload does not start with HC1:");
    const compressed = b45decode(text.slice(4));
    const coseBytes = await inflate(compressed, MAX_INFLATED);
    let top = cborDecode(coseBytes, "cose");
    if (top instanceof Tag && top.tag === 61) top = top.value;
    if (top instanceof Tag) {
      if (top.tag !== 18) throw new DecodeError("cose", "tag " + top.tag + " is not COSE_Sign1 (18)");
      top = top.value;
    }
    if (!Array.isArray(top) || top.length !== 4) throw new DecodeError("cose", "COSE_Sign1 is an array of four items");
    const [protectedBytes, unprotected, payload, signature] = top;
    if (!(protectedBytes instanceof Uint8Array) || !(unprotected instanceof Map) ||
        !(payload instanceof Uint8Array) || !(signature instanceof Uint8Array)) {
      throw new DecodeError("cose", "COSE_Sign1 items have the wrong types");
    }
    const protectedMap = protectedBytes.length ? cborDecode(protectedBytes, "cose") : new Map();
    if (!(protectedMap instanceof Map)) throw new DecodeError("cose", "the protected header is not a map");
    const claims = cborDecode(payload, "cwt");
    if (!(claims instanceof Map)) throw new DecodeError("cwt", "CWT claims must be a map");
    const iss = claims.get(1);
    if (iss !== undefined && typeof iss !== "string") throw new DecodeError("cwt", "claim 1 (iss) must be text");
    const hcert = claims.get(-260);
    if (!(hcert instanceof Map)) throw new DecodeError("cwt", "claim -260 (hcert) must be a map");
    const dccRaw = hcert.get(1);
    if (!(dccRaw instanceof Map)) throw new DecodeError("cwt", "hcert key 1 (the EU DCC) must be a map");
    const date = (key, name) => {
      const v = claims.get(key);
      if (v === undefined || v === null) return null;
      if (typeof v !== "number" || !Number.isFinite(v)) throw new DecodeError("cwt", "claim " + key + " (" + name + ") must be a NumericDate");
      return v;
    };
    const header = (label) => (protectedMap.has(label) ? protectedMap.get(label) : unprotected.get(label));
    return {
      protectedBytes, payload, signature,
      kid: header(4), alg: header(1),
      issuer: iss === undefined ? null : iss,
      iat: date(6, "iat"), exp: date(4, "exp"),
      dcc: toJson(dccRaw, 1),
    };
  }

  // --- DER, just enough of X.509 (RFC 5280 §4.1) --------------------------------------------------
  function der(bytes, pos) {
    if (pos + 2 > bytes.length) throw new Error("DER ends early");
    const tag = bytes[pos];
    let len = bytes[pos + 1], head = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n < 1 || n > 4 || pos + 2 + n > bytes.length) throw new Error("bad DER length");
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + bytes[pos + 2 + i];
      head += n;
    }
    const start = pos + head, end = start + len;
    if (end > bytes.length) throw new Error("DER item overruns");
    return { tag, pos, start, end };
  }
  function children(bytes, node) {
    const out = [];
    for (let p = node.start; p < node.end;) { const c = der(bytes, p); out.push(c); p = c.end; }
    return out;
  }
  function oid(bytes, node) {
    const parts = [];
    let v = 0;
    for (let i = node.start; i < node.end; i++) {
      v = v * 128 + (bytes[i] & 0x7f);
      if (!(bytes[i] & 0x80)) { parts.push(v); v = 0; }
    }
    const first = parts.shift();
    const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
    return head.concat(parts).join(".");
  }
  function time(bytes, node) {
    const s = new TextDecoder().decode(bytes.slice(node.start, node.end));
    let y, rest;
    if (node.tag === 0x17) { y = +s.slice(0, 2); y += y >= 50 ? 1900 : 2000; rest = s.slice(2); }
    else { y = +s.slice(0, 4); rest = s.slice(4); }
    const n = (i) => +rest.slice(i, i + 2);
    return Date.UTC(y, n(0) - 1, n(2), n(4), n(6), n(8)) / 1000;
  }
  async function parseCertificate(derBytes) {
    const cert = der(derBytes, 0);
    const [tbsNode] = children(derBytes, cert);
    let fields = children(derBytes, tbsNode);
    if (fields[0].tag === 0xa0) fields = fields.slice(1);
    const [, , , validity, , spkiNode] = fields;
    const [nb, na] = children(derBytes, validity);
    const allowed = new Set();
    const ext = fields.find((f) => f.tag === 0xa3);
    if (ext) {
      for (const e of children(derBytes, children(derBytes, ext)[0])) {
        const parts = children(derBytes, e);
        if (oid(derBytes, parts[0]) !== "2.5.29.37") continue;
        const value = der(derBytes, parts[parts.length - 1].start);
        for (const o of children(derBytes, value)) {
          const kind = PURPOSES[oid(derBytes, o)];
          if (kind) allowed.add(kind);
        }
      }
    }
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", derBytes));
    return {
      kid: b64(digest.slice(0, KID_LENGTH)),
      spki: derBytes.slice(spkiNode.pos, spkiNode.end),
      notBefore: time(derBytes, nb), notAfter: time(derBytes, na),
      allowed: allowed.size ? allowed : new Set(["v", "t", "r"]),
    };
  }

  // --- helpers --------------------------------------------------------------------------------------
  function b64(bytes) { let s = ""; for (const b of bytes) s += String.fromCharCode(b); return btoa(s); }
  function unb64(text) { const s = atob(text); const out = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i); return out; }
  async function hash16(bytes) { return b64(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).slice(0, 16)); }

  // --- trust and revocation lists -----------------------------------------------------------------
  /** Trusted DSCs from a trust list (EU DCC gateway entries: {kid, country, rawData, ...}). */
  async function loadSigners(entries) {
    const byKid = new Map();
    let count = 0;
    for (const entry of entries || []) {
      try {
        const signer = await parseCertificate(unb64(entry.rawData));
        signer.country = entry.country;
        if (!byKid.has(signer.kid)) byKid.set(signer.kid, []);
        byKid.get(signer.kid).push(signer);
        count++;
      } catch (err) { /* an unreadable entry is skipped; the others still count */ }
    }
    return { byKid, count };
  }
  /** The revocation hook from a published list (vaccine_cert/revocation.py). */
  function loadRevocations(documentValue) {
    const listed = new Set();
    for (const batch of (documentValue && documentValue.batches) || []) {
      for (const entry of batch.entries || []) listed.add(batch.kid + "|" + batch.hashType + "|" + entry.hash);
    }
    return { listed, timestamp: documentValue ? documentValue.timestamp : null };
  }

  // --- the checks -----------------------------------------------------------------------------------
  async function verifySignature(decoded, signers, kinds) {
    const kid = decoded.kid;
    if (kid === undefined || kid === null) return { code: "kid_missing" };
    if (!(kid instanceof Uint8Array) || kid.length !== KID_LENGTH) return { code: "kid_malformed" };
    const alg = decoded.alg;
    if (alg !== ES256 && alg !== PS256) return { code: "algorithm_unsupported", alg: String(alg) };
    const kidText = b64(kid);
    const candidates = signers.byKid.get(kidText) || [];
    if (!candidates.length) return { code: "signer_unknown", kid: kidText };
    const data = sigStructure(decoded.protectedBytes, decoded.payload);
    for (const signer of candidates) {
      let ok = false;
      try {
        if (alg === ES256) {
          if (decoded.signature.length !== 64) continue;
          const key = await crypto.subtle.importKey("spki", signer.spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
          ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, decoded.signature, data);
        } else {
          const key = await crypto.subtle.importKey("spki", signer.spki, { name: "RSA-PSS", hash: "SHA-256" }, false, ["verify"]);
          ok = await crypto.subtle.verify({ name: "RSA-PSS", saltLength: 32 }, key, decoded.signature, data);
        }
      } catch (err) { ok = false; }
      if (ok) {
        const refused = kinds.filter((k) => !signer.allowed.has(k));
        if (refused.length) return { code: "signer_not_authorised_for_type", kid: kidText, kinds: refused.join(", ") };
        return { signer, kid: kidText };
      }
    }
    return { code: "signature_invalid", kid: kidText, count: candidates.length };
  }

  function reducedSchema(dcc) {
    const problems = [];
    if (typeof dcc.ver !== "string") problems.push("ver");
    if (!dcc.nam || typeof dcc.nam !== "object" || Array.isArray(dcc.nam)) problems.push("nam");
    if (typeof dcc.dob !== "string" || !/^((19|20)\d\d(-\d\d){0,2}){0,1}$/.test(dcc.dob)) problems.push("dob");
    const groups = ["v", "t", "r"].filter((g) => g in dcc);
    if (groups.length !== 1) { problems.push("v|t|r"); return problems; }
    const g = groups[0], list = dcc[g];
    if (!Array.isArray(list) || list.length !== 1 || typeof list[0] !== "object" || list[0] === null) {
      problems.push(g); return problems;
    }
    for (const field of REQUIRED[g]) {
      const v = list[0][field];
      const ok = INTEGERS.has(field) ? Number.isInteger(v) && v >= 1 : typeof v === "string" && v.length > 0;
      if (!ok) problems.push(g + "[0]." + field);
    }
    return problems;
  }

  /**
   * Verify one payload. ``trust``: {byKid, count} from loadSigners; ``revocations``: from
   * loadRevocations or null; ``now``: seconds since 1970. Never throws for a bad payload.
   */
  async function verify(text, trust, revocations, now) {
    const checks = { decode: "skipped", signature: "skipped", expiry: "skipped", schema: "skipped", revocation: "skipped" };
    const reasons = [];
    let decoded;
    try {
      decoded = await decodeHc1(text);
    } catch (err) {
      checks.decode = "fail";
      reasons.push({ check: "decode", code: "decode_failed", stage: err.stage || "decode", detail: err.detail || String(err) });
      return { valid: false, checks, reasons, holder: null };
    }
    checks.decode = "pass";
    const dcc = decoded.dcc;
    const kinds = ["v", "t", "r"].filter((k) => k in dcc);
    const kind = kinds.length === 1 ? kinds[0] : null;
    const entry = kind && Array.isArray(dcc[kind]) && dcc[kind][0] && typeof dcc[kind][0] === "object" ? dcc[kind][0] : null;
    const uvci = entry && typeof entry.ci === "string" ? entry.ci : null;

    const sig = await verifySignature(decoded, trust, kinds);
    checks.signature = sig.signer ? "pass" : "fail";
    if (!sig.signer) reasons.push(Object.assign({ check: "signature" }, sig));
    if (sig.signer) {
      const before = reasons.length;
      const add = (code, extra) => reasons.push(Object.assign({ check: "expiry", code }, extra || {}));
      if (decoded.iat === null) add("claim_missing", { claim: "iat" });
      else if (now < decoded.iat) add("not_yet_valid", { at: decoded.iat });
      if (decoded.exp === null) add("claim_missing", { claim: "exp" });
      else if (now > decoded.exp) add("expired", { at: decoded.exp });
      if (!(sig.signer.notBefore <= now && now <= sig.signer.notAfter)) {
        add("signer_certificate_not_valid", { from: sig.signer.notBefore, to: sig.signer.notAfter });
      }
      checks.expiry = reasons.length === before ? "pass" : "fail";

      const problems = reducedSchema(dcc);
      checks.schema = problems.length ? "fail" : "pass";
      for (const p of problems) reasons.push({ check: "schema", code: "schema_invalid", field: p });

      if (!revocations) {
        reasons.push({ check: "revocation", code: "not_checked" });
      } else {
        const probes = [["SIGNATURE", decoded.signature.length === 64 ? decoded.signature.slice(0, 32) : decoded.signature]];
        const enc = new TextEncoder();
        if (uvci !== null) {
          probes.push(["UCI", enc.encode(uvci)]);
          if (decoded.issuer !== null) probes.push(["COUNTRYCODEUCI", enc.encode(decoded.issuer + uvci)]);
        }
        let hit = null;
        for (const [type, data] of probes) {
          if (revocations.listed.has(sig.kid + "|" + type + "|" + (await hash16(data)))) { hit = type; break; }
        }
        checks.revocation = hit ? "fail" : "pass";
        if (hit) reasons.push({ check: "revocation", code: "revoked", hashType: hit });
      }
    }
    const required = ["decode", "signature", "expiry", "schema"].every((c) => checks[c] === "pass");
    const valid = required && checks.revocation !== "fail";
    const nam = dcc.nam && typeof dcc.nam === "object" ? dcc.nam : {};
    return {
      valid, checks, reasons, kind, entry, uvci,
      kid: sig.kid || null, issuer: decoded.issuer, iat: decoded.iat, exp: decoded.exp,
      holder: sig.signer
        ? { fn: nam.fn || null, gn: nam.gn || null, fnt: nam.fnt || null, gnt: nam.gnt || null, dob: typeof dcc.dob === "string" ? dcc.dob : null }
        : null,
    };
  }

  global.NatIDVerifier = { verify, loadSigners, loadRevocations, decodeHc1, b45decode, cborDecode, DecodeError };
})(typeof self !== "undefined" ? self : this);
