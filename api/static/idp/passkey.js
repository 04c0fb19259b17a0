/* NatID passkeys: the only JavaScript of the IdP pages (WebAuthn needs it).
 *
 * A form with data-passkey="register" or "login" holds a hidden "credential" field. On submit
 * the script fetches the options from data-options-url (POST, with the form's CSRF token),
 * asks the browser's authenticator (navigator.credentials.create / get), puts the answer into
 * "credential" as JSON (WebAuthn's RegistrationResponseJSON / AuthenticationResponseJSON, with
 * base64url fields) and submits the form normally, so the server answers with a 303.
 */
(function () {
  "use strict";

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }

  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return { type: d.type, id: toBytes(d.id), transports: d.transports };
    });
  }

  function creationOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    o.excludeCredentials = descriptors(o.excludeCredentials);
    return o;
  }

  function requestOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.allowCredentials = descriptors(o.allowCredentials);
    return o;
  }

  function answer(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      response.userHandle = toText(r.userHandle);
    }
    return {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      response: response,
      authenticatorAttachment: cred.authenticatorAttachment || null,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }

  function showError(form, key) {
    var box = document.getElementById(form.getAttribute("data-error-box"));
    if (!box) { return; }
    box.textContent = form.getAttribute(key) || "";
    box.hidden = false;
  }

  function run(form) {
    var body = new URLSearchParams();
    body.set("csrf_token", form.elements.csrf_token.value);
    return fetch(form.getAttribute("data-options-url"), {
      method: "POST", body: body, credentials: "same-origin"
    }).then(function (res) {
      if (!res.ok) { throw new Error("options " + res.status); }
      return res.json();
    }).then(function (options) {
      if (form.getAttribute("data-passkey") === "register") {
        return navigator.credentials.create({ publicKey: creationOptions(options) });
      }
      return navigator.credentials.get({ publicKey: requestOptions(options) });
    }).then(function (cred) {
      form.elements.credential.value = JSON.stringify(answer(cred));
      form.submit();
    });
  }

  var forms = document.querySelectorAll("form[data-passkey]");
  for (var i = 0; i < forms.length; i++) {
    (function (form) {
      if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
        showError(form, "data-unsupported");
        return;
      }
      form.hidden = false;
      form.addEventListener("submit", function (event) {
        if (form.elements.credential.value) { return; }
        event.preventDefault();
        var button = form.querySelector("button");
        if (button) { button.disabled = true; }
        run(form).catch(function () {
          if (button) { button.disabled = false; }
          showError(form, "data-failed");
        });
      });
    })(forms[i]);
  }
})();
