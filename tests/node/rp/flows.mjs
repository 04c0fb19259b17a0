// openid-client (v6) as a relying party of `natid serve`: every flow of issue 4, one JSON line
// of results per flow on stdout.
//
// Usage: node tests/node/rp/flows.mjs < config.json
//
// The configuration (written by tests/e2e/oidc/test_openid_client.py) names the issuer, the
// citizen (ID card number, password, TOTP secret), three registered clients (client_secret_basic,
// client_secret_post of another sector, and a FAPI 2.0 client with private_key_jwt) and the
// private JWKs of the FAPI client's assertion key and of the DPoP key. The Python test asserts
// on what a relying party sees; this script only drives openid-client and reports, so a
// failed flow prints {"flow": ..., "ok": false, "error": ...} and the next flow still runs.

import * as client from 'openid-client'
import { Browser } from './browser.mjs'

const SCOPE_ALL = 'openid profile email phone address offline_access'

function readStdin() {
  return new Promise((resolve, reject) => {
    let data = ''
    process.stdin.setEncoding('utf8')
    process.stdin.on('data', (chunk) => { data += chunk })
    process.stdin.on('end', () => resolve(data))
    process.stdin.on('error', reject)
  })
}

function emit(flow, result) {
  process.stdout.write(JSON.stringify({ flow, ...result }) + '\n')
}

function describeError(err) {
  const out = { name: err?.name, message: String(err?.message ?? err) }
  for (const key of ['code', 'error', 'error_description', 'status']) {
    if (err?.[key] !== undefined) out[key] = err[key]
  }
  if (err?.cause !== undefined) {
    try {
      out.cause = JSON.parse(JSON.stringify(err.cause, (k, v) => (v instanceof Headers ? Object.fromEntries(v) : v)))
    } catch {
      out.cause = String(err.cause)
    }
  }
  return out
}

async function flow(name, fn) {
  try {
    emit(name, { ok: true, ...(await fn()) })
  } catch (err) {
    emit(name, { ok: false, error: describeError(err) })
  }
}

/** Expect `fn` to be refused; report the OAuth error the server answered. */
async function refused(fn) {
  try {
    await fn()
    return { refused: false }
  } catch (err) {
    return { refused: true, ...describeError(err) }
  }
}

async function importEcKeyPair(jwk) {
  const { d, ...pub } = jwk
  const alg = { name: 'ECDSA', namedCurve: 'P-256' }
  const privateKey = await crypto.subtle.importKey('jwk', { ...pub, d }, alg, false, ['sign'])
  const publicKey = await crypto.subtle.importKey('jwk', pub, alg, true, ['verify'])
  return { privateKey, publicKey }
}

const execute = [client.allowInsecureRequests] // natid serve on http://127.0.0.1 in the tests

async function login(browser, config, params, redirectUri, options) {
  const url = options?.par
    ? await client.buildAuthorizationUrlWithPAR(config, params, options.dpop ? { DPoP: options.dpop } : undefined)
    : client.buildAuthorizationUrl(config, params)
  const before = browser.pages.length
  const callback = await browser.run(url.toString(), redirectUri)
  return { callback: new URL(callback), authorizationUrl: url, pages: browser.pages.slice(before) }
}

function callbackParams(url) {
  return Object.fromEntries(url.searchParams)
}

async function codeFlow(browser, config, c, extra = {}, options = {}) {
  const codeVerifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const params = {
    redirect_uri: c.redirect_uri,
    scope: extra.scope ?? SCOPE_ALL,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  }
  const { callback, authorizationUrl, pages } = await login(browser, config, params, c.redirect_uri, options)
  const tokens = await client.authorizationCodeGrant(
    config,
    callback,
    { expectedState: state, expectedNonce: nonce, pkceCodeVerifier: codeVerifier },
    undefined,
    options.dpop ? { DPoP: options.dpop } : undefined,
  )
  return { tokens, nonce, state, callback, authorizationUrl, pages }
}

function tokenSummary(tokens) {
  return {
    token_type: tokens.token_type,
    scope: tokens.scope,
    expires_in: tokens.expires_in,
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    id_token: tokens.id_token,
    id_token_claims: tokens.claims(),
  }
}

async function main() {
  const cfg = JSON.parse(await readStdin())
  const issuer = new URL(cfg.issuer)
  const browser = new Browser({
    identifier: cfg.person.identifier,
    password: cfg.person.password,
    totpSecret: cfg.person.totp_secret,
  })
  const { basic, post, fapi } = cfg.clients

  const basicConfig = await client.discovery(issuer, basic.client_id, undefined,
    client.ClientSecretBasic(basic.client_secret), { execute })

  await flow('discovery', async () => ({ metadata: basicConfig.serverMetadata() }))

  // Code flow + PKCE, client_secret_basic; then userinfo, introspection and revocation.
  let basicIdToken
  await flow('code_basic', async () => {
    const r = await codeFlow(browser, basicConfig, basic, { acr_values: 'substantial', prompt: 'consent' })
    basicIdToken = r.tokens.id_token
    const summary = tokenSummary(r.tokens)
    const userinfo = await client.fetchUserInfo(basicConfig, r.tokens.access_token, summary.id_token_claims.sub)
    const introspected = await client.tokenIntrospection(basicConfig, r.tokens.access_token)
    await client.tokenRevocation(basicConfig, r.tokens.access_token)
    const afterRevocation = await client.tokenIntrospection(basicConfig, r.tokens.access_token)
    const userinfoAfterRevocation = await refused(() =>
      client.fetchUserInfo(basicConfig, r.tokens.access_token, client.skipSubjectCheck))
    return {
      ...summary,
      sent_nonce: r.nonce,
      sent_state: r.state,
      callback_params: callbackParams(r.callback),
      pages: r.pages,
      userinfo,
      introspection: introspected,
      introspection_after_revocation: afterRevocation,
      userinfo_after_revocation: userinfoAfterRevocation,
    }
  })

  // Refresh-token rotation and reuse detection (a second authorization: single sign-on).
  await flow('refresh', async () => {
    const r = await codeFlow(browser, basicConfig, basic, { prompt: 'consent' })
    const first = r.tokens
    const second = await client.refreshTokenGrant(basicConfig, first.refresh_token)
    const userinfo = await client.fetchUserInfo(basicConfig, second.access_token, first.claims().sub)
    const reuse = await refused(() => client.refreshTokenGrant(basicConfig, first.refresh_token))
    const rotatedAfterReuse = await client.tokenIntrospection(basicConfig, second.refresh_token)
    return {
      pages: r.pages,
      first: tokenSummary(first),
      second: { ...tokenSummary(second), id_token_claims: second.id_token ? second.claims() : null },
      userinfo_with_refreshed_token: userinfo,
      reuse_of_old_refresh_token: reuse,
      rotated_token_after_reuse: rotatedAfterReuse,
    }
  })

  // Code flow + PKCE, client_secret_post, a client of another sector.
  await flow('code_post', async () => {
    const postConfig = await client.discovery(issuer, post.client_id, undefined,
      client.ClientSecretPost(post.client_secret), { execute })
    const r = await codeFlow(browser, postConfig, post, { scope: 'openid profile' })
    const summary = tokenSummary(r.tokens)
    const userinfo = await client.fetchUserInfo(postConfig, r.tokens.access_token, summary.id_token_claims.sub)
    return { ...summary, sent_nonce: r.nonce, callback_params: callbackParams(r.callback), pages: r.pages, userinfo }
  })

  // FAPI 2.0: PAR + DPoP + private_key_jwt.
  await flow('fapi2', async () => {
    const assertionKey = await importEcKeyPair(fapi.private_jwk)
    const fapiConfig = await client.discovery(issuer, fapi.client_id, undefined,
      client.PrivateKeyJwt({ key: assertionKey.privateKey, kid: fapi.private_jwk.kid }), { execute })
    const dpop = client.getDPoPHandle(fapiConfig, await importEcKeyPair(cfg.dpop_private_jwk))
    const r = await codeFlow(browser, fapiConfig, fapi,
      { scope: 'openid profile offline_access', prompt: 'consent' }, { par: true, dpop })
    const summary = tokenSummary(r.tokens)
    const userinfo = await client.fetchUserInfo(fapiConfig, r.tokens.access_token, summary.id_token_claims.sub, { DPoP: dpop })
    const refreshed = await client.refreshTokenGrant(fapiConfig, r.tokens.refresh_token, undefined, { DPoP: dpop })
    const userinfoRefreshed = await client.fetchUserInfo(fapiConfig, refreshed.access_token, summary.id_token_claims.sub, { DPoP: dpop })
    const introspection = await client.tokenIntrospection(fapiConfig, refreshed.access_token)
    return {
      ...summary,
      sent_nonce: r.nonce,
      authorization_url: r.authorizationUrl.toString(),
      callback_params: callbackParams(r.callback),
      pages: r.pages,
      userinfo,
      refreshed: tokenSummary(refreshed),
      userinfo_with_refreshed_token: userinfoRefreshed,
      introspection_of_refreshed: introspection,
    }
  })

  // RP-initiated logout, then the session is gone (prompt=none answers login_required).
  await flow('logout', async () => {
    if (!basicIdToken) throw new Error('no ID token from code_basic to log out with')
    const state = client.randomState()
    const endSession = client.buildEndSessionUrl(basicConfig, {
      id_token_hint: basicIdToken,
      post_logout_redirect_uri: basic.post_logout_redirect_uri,
      state,
    })
    const before = browser.pages.length
    const landed = new URL(await browser.run(endSession.toString(), basic.post_logout_redirect_uri))
    const pages = browser.pages.slice(before)
    const silentState = client.randomState()
    const silent = client.buildAuthorizationUrl(basicConfig, {
      redirect_uri: basic.redirect_uri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: silentState,
      prompt: 'none',
    })
    const silentCallback = new URL(await browser.run(silent.toString(), basic.redirect_uri))
    return {
      end_session_url: endSession.toString(),
      sent_state: state,
      landed: landed.toString(),
      landed_params: callbackParams(landed),
      pages,
      after_logout_prompt_none: callbackParams(silentCallback),
      sent_silent_state: silentState,
    }
  })
}

main().catch((err) => {
  emit('fatal', { ok: false, error: describeError(err) })
  process.exitCode = 1
})
