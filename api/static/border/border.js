/*
 * NatID border verifier page: camera and photo scanning (jsQR), the trust and revocation lists
 * (cached by the service worker sw.js, their age shown), and the result. Verification itself is
 * verifier.js and runs in this browser, so the page works with no network once loaded; when
 * online it also asks the server for the full DCC schema check and says which check it used,
 * and - for a signer the cached trust list does not know - whether the signer's certificate was
 * revoked (the published list leaves revoked signers out; only the server knows them).
 * The holder's name and date of birth are shown only when the signature verified. Every word
 * shown comes from the page's catalogue (api/routers/border_text.py), in the page's language,
 * and the numbers a person reads - dates, times, counts, doses - are in the page's digits
 * (Khmer digits on the Khmer page, as api/page_format.py writes the server-drawn pages);
 * identifiers (UVCI, kid, product and value-set codes) stay as the credential has them.
 */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const T = cfg.texts;
  const $ = (id) => document.getElementById(id);
  const V = window.NatIDVerifier;
  const state = { trust: { byKid: new Map(), count: 0 }, trustTime: null, revocations: null, revocationTime: null };

  // The page's language is the one the server drew it in (its config, like its words).
  const KHMER_ZERO = 0x17e0;
  function digits(value) {
    const text = String(value);
    return cfg.lang === "km" ? text.replace(/[0-9]/g, (d) => String.fromCharCode(KHMER_ZERO + Number(d))) : text;
  }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (m, k) => (values && values[k] !== undefined && values[k] !== null ? String(values[k]) : ""));
  }
  // Cambodia time, to the minute, labelled as the server-drawn pages label it
  // (api/page_format.py): UTC+7, kept without daylight saving, so no time-zone database is
  // needed offline, and the officer reads the same clock as the traveller's documents.
  const CAMBODIA_OFFSET = 7 * 3600;
  function when(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "-";
    const local = new Date((seconds + CAMBODIA_OFFSET) * 1000).toISOString().slice(0, 16).replace("T", " ");
    return fill(T.local_time, { time: digits(local) });
  }
  function age(seconds) {
    const minutes = Math.max(0, Math.floor((Date.now() / 1000 - seconds) / 60));
    if (minutes < 60) return fill(T.age_minutes, { n: digits(minutes) });
    if (minutes < 48 * 60) return fill(T.age_hours, { n: digits(Math.floor(minutes / 60)) });
    return fill(T.age_days, { n: digits(Math.floor(minutes / 1440)) });
  }
  // Older lists are marked old; `natid health verify` warns after the same time
  // (vaccine_cert/revocation.py STALE_AFTER).
  const STALE = 7 * 24 * 3600;
  // DCC value set covid-19-lab-result (SNOMED CT): the catalogue's words for each code.
  const TEST_RESULTS = { "260415000": "test_not_detected", "260373001": "test_detected" };

  // --- lists ------------------------------------------------------------------------------------
  async function fetchJson(url) {
    // "no-cache": revalidate with the server (ETag) when online; the service worker answers
    // from its cache when the network is gone.
    const response = await fetch(url, { cache: "no-cache" });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    const served = Date.parse(response.headers.get("Date") || "");
    return { body: await response.json(), served: isFinite(served) ? served / 1000 : Date.now() / 1000 };
  }
  async function loadLists() {
    try {
      // The published trust list (EU DCC gateway shape) has no list-wide time: its age is
      // when the server sent it (the Date header, kept in the service worker's cache).
      const got = await fetchJson(cfg.urls.trustlist);
      state.trust = await V.loadSigners(got.body);
      state.trustTime = got.served;
    } catch (err) { /* keep what we had */ }
    try {
      const got = await fetchJson(cfg.urls.revocations);
      state.revocations = V.loadRevocations(got.body);
      const made = Date.parse(got.body.timestamp || "");
      state.revocationTime = isFinite(made) ? made / 1000 : got.served;
    } catch (err) { /* keep what we had */ }
    showLists();
  }
  function showLists() {
    $("network").textContent = navigator.onLine ? T.online : T.offline;
    const line = (el, time, text) => {
      el.textContent = time === null ? text.replace(/\(.*\)/, "") + " — " + T.list_missing : text;
      el.classList.toggle("stale", time === null || Date.now() / 1000 - time > STALE);
    };
    line($("trust-age"), state.trustTime,
      fill(T.trust_age, { count: digits(state.trust.count), when: when(state.trustTime), age: state.trustTime === null ? "" : age(state.trustTime) }));
    line($("revocation-age"), state.revocationTime,
      fill(T.revocation_age, { when: when(state.revocationTime), age: state.revocationTime === null ? "" : age(state.revocationTime) }));
  }

  // --- verification and the result -----------------------------------------------------------
  async function serverCheck(payload) {
    if (!navigator.onLine) return null;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 4000);
    try {
      const response = await fetch(cfg.urls.verify, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ payload }), signal: abort.signal,
      });
      if (!response.ok) return null;
      const body = await response.json();
      return body && typeof body === "object" ? body : null;
    } catch (err) {
      return null;
    } finally { clearTimeout(timer); }
  }

  function useServerSchema(result, server) {
    const outcome = server.checks && server.checks.schema;
    if (outcome !== "pass" && outcome !== "fail") return;
    const reasons = (server.reasons || []).filter((r) => String(r).startsWith("schema:"));
    result.schemaSource = "server";
    result.checks.schema = outcome;
    result.reasons = result.reasons.filter((r) => r.check !== "schema")
      .concat(reasons.map((text) => ({ check: "schema", text: String(text).replace(/^schema:\s*/, "") })));
    result.valid = ["decode", "signature", "expiry", "schema"].every((c) => result.checks[c] === "pass") &&
      result.checks.revocation !== "fail";
  }

  // The cached trust list names no signer for this kid; the server may know it as revoked.
  function useServerRevokedSigner(result, server) {
    const found = (server.findings || []).find((f) => f && f.check === "signature" && f.code === "signer_revoked");
    if (!found || !found.details) return;
    const made = Date.parse(found.details.revoked_at || "");
    result.reasons = result.reasons.filter((r) => r.check !== "signature").concat([{
      check: "signature", code: "signer_revoked", kid: found.details.kid,
      reason: found.details.reason, at: isFinite(made) ? made / 1000 : null,
    }]);
  }

  async function check(payload) {
    $("busy").textContent = T.working;
    const result = await V.verify(payload, state.trust, state.revocations, Date.now() / 1000);
    result.schemaSource = "local";
    const signerUnknown = result.reasons.some((r) => r.check === "signature" && r.code === "signer_unknown");
    if (result.checks.signature === "pass" || signerUnknown) {
      const server = await serverCheck(payload);
      if (server && result.checks.signature === "pass") useServerSchema(result, server);
      if (server && signerUnknown) useServerRevokedSigner(result, server);
    }
    show(result);
    $("busy").textContent = "";
  }

  function reasonText(reason) {
    if (reason.text) return reason.text;
    const values = Object.assign({}, reason);
    for (const k of ["at", "from", "to"]) if (typeof values[k] === "number") values[k] = when(values[k]);
    // A suspension (RFC 5280 certificateHold) is worded as one; any other reason is a revocation.
    const key = reason.code === "signer_revoked" && reason.reason === "certificateHold" ? "signer_suspended" : reason.code;
    const template = T["r_" + key];
    return template ? fill(template, values) : reason.code;
  }

  function show(result) {
    const section = $("result");
    section.hidden = false;
    const verdict = $("verdict");
    verdict.textContent = (result.valid ? "✓ " : "✗ ") + (result.valid ? T.valid : T.invalid);
    verdict.className = "verdict " + (result.valid ? "ok" : "bad");
    section.dataset.valid = String(result.valid);
    // The name and date of birth only when the signature verified (verifier.js returns no
    // holder otherwise): an officer shown a forged name beside "NOT VALID" may still compare it.
    const h = result.holder;
    $("holder").hidden = !h;
    const note = $("holder-note");
    note.textContent = h ? (result.valid ? T.compare : T.holder_signed_invalid) : (result.checks.decode === "pass" ? T.holder_hidden : "");
    const name = $("holder-name");
    name.textContent = h ? [h.fn, h.gn].filter(Boolean).join(" ") || "-" : "";
    const icao = h ? [h.fnt, h.gnt].filter(Boolean).join("<<") : "";
    if (icao) { const small = document.createElement("small"); small.textContent = icao; name.appendChild(small); }
    $("holder-dob").textContent = h ? (h.dob ? digits(h.dob) : "-") : "";

    const details = $("details");
    details.replaceChildren();
    const row = (label, value) => {
      if (value === undefined || value === null || value === "") return;
      const dt = document.createElement("dt"); dt.textContent = label;
      const dd = document.createElement("dd"); dd.textContent = String(value);
      details.append(dt, dd);
    };
    // The credential's contents, like its holder, only as signed.
    const e = (h && result.entry) || {};
    const kind = h ? result.kind : null;
    // Dates, the dose and the number of doses in the page's digits; the product (e.mp), test
    // (e.tt) and result (e.tr) codes are identifiers and stay as written.
    const read = (value) => (value === undefined || value === null || value === "" ? value : digits(value));
    if (kind === "v") { row(T["kind_v"], e.mp); row(T.dose, e.dn !== undefined ? read(e.dn + " / " + e.sd) : ""); row(T.date, read(e.dt)); }
    if (kind === "t") { row(T["kind_t"], e.nm || e.tt); row(T.test_result, T[TEST_RESULTS[e.tr]] || e.tr); row(T.date, read(e.sc)); }
    if (kind === "r") { row(T["kind_r"], e.fr); row(T.valid_until, read(e.du)); }
    if (h) {
      row(T.issuer, [e.is, result.issuer].filter(Boolean).join(", "));
      row(T.valid_until, result.exp ? when(result.exp) : "");
      row(T.uvci, result.uvci);
    }

    const list = $("checks");
    list.replaceChildren();
    for (const name of ["decode", "signature", "expiry", "schema", "revocation"]) {
      const outcome = result.checks[name];
      const li = document.createElement("li");
      li.className = outcome;
      li.dataset.check = name;
      const label = document.createElement("span");
      label.textContent = T["check_" + name] + ": ";
      const status = document.createElement("span");
      status.className = "st";
      status.textContent = (outcome === "pass" ? "✓ " : outcome === "fail" ? "✗ " : "– ") + T[outcome];
      li.append(label, status);
      if (name === "schema" && outcome !== "skipped") {
        const note = document.createElement("span");
        note.className = "why";
        note.textContent = result.schemaSource === "server" ? T.schema_server : T.schema_local;
        li.append(note);
      }
      for (const reason of result.reasons.filter((r) => r.check === name)) {
        const why = document.createElement("span");
        why.className = "why";
        why.dataset.code = reason.code || "";
        why.textContent = reasonText(reason);
        li.append(why);
      }
      list.append(li);
    }
    section.scrollIntoView({ block: "start" });
    verdict.setAttribute("tabindex", "-1");
    verdict.focus();
  }

  // --- QR input: photo, camera, text ------------------------------------------------------------
  function decodeCanvas(source, width, height, maxSide, inversion) {
    const scale = Math.min(1, maxSide / Math.max(width, height));
    const w = Math.max(1, Math.round(width * scale)), h = Math.max(1, Math.round(height * scale));
    const canvas = document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    const g = canvas.getContext("2d", { willReadFrequently: true });
    g.fillStyle = "#fff"; g.fillRect(0, 0, w, h);
    g.drawImage(source, 0, 0, w, h);
    const image = g.getImageData(0, 0, w, h);
    const code = window.jsQR(image.data, w, h, { inversionAttempts: inversion });
    return code ? code.data : null;
  }
  async function fromPhoto(file) {
    let bitmap;
    try { bitmap = await createImageBitmap(file); } catch (err) { return noQr(); }
    let text = null;
    for (const side of [2000, 1000, 600]) {
      text = decodeCanvas(bitmap, bitmap.width, bitmap.height, side, "attemptBoth");
      if (text) break;
    }
    bitmap.close();
    if (!text) return noQr();
    $("payload").value = text;
    await check(text);
  }
  function noQr() {
    $("result").hidden = true;
    $("busy").textContent = T.no_qr;
    alert(T.no_qr);
  }

  let stream = null;
  async function startCamera() {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (err) {
      $("busy").textContent = T.camera_error;
      alert(T.camera_error);
      return;
    }
    const video = $("video");
    video.srcObject = stream;
    $("camera").hidden = false;
    $("scan").textContent = T.stop;
    await video.play();
    let last = 0;
    const tick = async (now) => {
      if (!stream) return;
      if (now - last > 150 && video.videoWidth) {
        last = now;
        const text = decodeCanvas(video, video.videoWidth, video.videoHeight, 800, "dontInvert");
        if (text) { stopCamera(); $("payload").value = text; await check(text); return; }
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }
  function stopCamera() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    $("camera").hidden = true;
    $("scan").textContent = T.scan;
  }

  // --- wiring ------------------------------------------------------------------------------------
  $("scan").addEventListener("click", () => (stream ? stopCamera() : startCamera()));
  $("photo").addEventListener("change", (event) => {
    const file = event.target.files && event.target.files[0];
    if (file) fromPhoto(file);
    event.target.value = "";
  });
  $("paste-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("payload").value.trim();
    if (text) check(text);
  });
  $("refresh").addEventListener("click", loadLists);
  window.addEventListener("online", loadLists);
  window.addEventListener("offline", showLists);
  setInterval(showLists, 60 * 1000);

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(cfg.urls.sw, { scope: cfg.urls.swScope }).catch(() => {});
  }
  window.NatIDBorder = { loadLists, check, ready: loadLists() };
})();
