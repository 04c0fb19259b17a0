// A scripted "browser" for NatID's login pages: fetch with manual redirects and a cookie jar.
//
// It plays the citizen's part of an authorization request: follows the redirects from
// /authorize to /login, fills the forms (field names are the IdP HTTP contract's: identifier,
// password, code, decision, scope, claim, csrf_token, pending), computes the TOTP code
// (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps) from the secret the test passes, allows consent,
// and stops at the first redirect to the relying party's redirect URI, whose URL it returns.
// No JavaScript is run: the pages must work without it.

import { createHmac } from 'node:crypto'

const MAX_STEPS = 25

/** RFC 4648 base32 (no padding needed), as in otpauth:// secrets. */
export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = 0
  let value = 0
  const out = []
  for (const ch of text.replace(/=+$/, '').toUpperCase()) {
    const idx = alphabet.indexOf(ch)
    if (idx < 0) throw new Error('invalid base32 character in the TOTP secret')
    value = (value << 5) | idx
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return Buffer.from(out)
}

/** RFC 6238 TOTP (RFC 4226 HOTP over the time step): SHA-1, 6 digits. */
export function totp(secret, step) {
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(step))
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest()
  const offset = mac[mac.length - 1] & 0x0f
  const binary = mac.readUInt32BE(offset) & 0x7fffffff
  return String(binary % 1_000_000).padStart(6, '0')
}

/** The code of the step after the current one: the verifier accepts one step ahead (RFC 6238
 * §5.2) and it is always newer than the step used to confirm the enrolment, which a verifier
 * that refuses replays (as NatID's does) would refuse again. */
export function nextTotp(secret, now = Date.now()) {
  return totp(secret, Math.floor(now / 1000 / 30) + 1)
}

function decodeEntities(text) {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
}

function attributes(tag) {
  const attrs = {}
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g
  const inner = tag.replace(/^<\s*[a-zA-Z]+/, '').replace(/\/?>$/, '')
  let m
  while ((m = re.exec(inner)) !== null) {
    attrs[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '')
  }
  return attrs
}

/** The forms of a page: action, method, and their input/button/select/textarea controls. */
export function parseForms(html) {
  const forms = []
  const formRe = /<form\b[^>]*>([\s\S]*?)<\/form>/gi
  let m
  while ((m = formRe.exec(html)) !== null) {
    const open = m[0].match(/^<form\b[^>]*>/i)[0]
    const attrs = attributes(open)
    const controls = []
    const ctlRe = /<(input|button)\b[^>]*>|<textarea\b[^>]*>([\s\S]*?)<\/textarea>/gi
    let c
    while ((c = ctlRe.exec(m[1])) !== null) {
      const tag = c[0].match(/^<[^>]*>/)[0]
      const a = attributes(tag)
      const kind = (c[1] || 'textarea').toLowerCase()
      controls.push({
        tag: kind,
        type: (a.type || (kind === 'button' ? 'submit' : 'text')).toLowerCase(),
        name: a.name,
        value: kind === 'textarea' ? decodeEntities(c[2] || '') : (a.value ?? ''),
        checked: 'checked' in a,
        disabled: 'disabled' in a,
      })
    }
    forms.push({ action: attrs.action ?? '', method: (attrs.method || 'get').toLowerCase(), controls })
  }
  return forms
}

function summary(html) {
  const pick = (re) => (html.match(re)?.[1] ?? '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim()
  return [pick(/<title[^>]*>([\s\S]*?)<\/title>/i), pick(/<h1[^>]*>([\s\S]*?)<\/h1>/i),
    pick(/role="alert"[^>]*>([\s\S]*?)<\//i)].filter(Boolean).join(' | ').slice(0, 300)
}

export class Browser {
  constructor({ identifier, password, totpSecret, log } = {}) {
    this.identifier = identifier
    this.password = password
    this.totpSecret = totpSecret
    this.cookies = new Map() // "host name" -> value (one origin: the IdP)
    this.pages = [] // paths of the pages shown, for the test's report
    this.log = log ?? (() => {})
  }

  _cookieHeader(url) {
    const host = new URL(url).host
    const pairs = []
    for (const [key, value] of this.cookies) {
      const [h, name] = key.split(' ')
      if (h === host) pairs.push(`${name}=${value}`)
    }
    return pairs.join('; ')
  }

  _storeCookies(url, response) {
    const host = new URL(url).host
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      const lower = attrs.map((a) => a.trim().toLowerCase())
      const expired = lower.some((a) => a === 'max-age=0' || a.startsWith('max-age=-')) ||
        lower.some((a) => a.startsWith('expires=') && Date.parse(a.slice(8)) < Date.now())
      if (expired || value === '') this.cookies.delete(`${host} ${name}`)
      else this.cookies.set(`${host} ${name}`, value)
    }
  }

  async request(url, { method = 'GET', form } = {}) {
    const headers = { 'accept-language': 'en', accept: 'text/html' }
    const cookie = this._cookieHeader(url)
    if (cookie) headers.cookie = cookie
    let body
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(form).toString()
    }
    const response = await fetch(url, { method, headers, body, redirect: 'manual' })
    this._storeCookies(url, response)
    return response
  }

  /** Follow the front channel from `url` until a redirect to `stopPrefix`; return that URL. */
  async run(url, stopPrefix) {
    let method = 'GET'
    let form
    for (let i = 0; i < MAX_STEPS; i++) {
      if (url.startsWith(stopPrefix)) return url
      const response = await this.request(url, { method, form })
      this.log(`${method} ${new URL(url).pathname} -> ${response.status}`)
      if ([301, 302, 303, 307, 308].includes(response.status)) {
        const location = response.headers.get('location')
        if (!location) throw new Error(`${response.status} without Location from ${new URL(url).pathname}`)
        const next = new URL(location, url).toString()
        if (response.status === 307 || response.status === 308) {
          // method and body are kept
        } else {
          method = 'GET'
          form = undefined
        }
        url = next
        continue
      }
      const html = await response.text()
      if (response.status !== 200) {
        throw new Error(`${method} ${new URL(url).pathname} answered ${response.status}: ${summary(html) || html.slice(0, 300)}`)
      }
      const step = this._fill(url, html)
      method = 'POST'
      form = step.form
      url = step.action
    }
    throw new Error(`no redirect to the client after ${MAX_STEPS} steps`)
  }

  _fill(url, html) {
    const path = new URL(url).pathname
    this.pages.push(path)
    const forms = parseForms(html).filter((f) => f.method === 'post')
    const has = (f, name) => f.controls.some((c) => c.name === name)
    const pick = (pred, what) => {
      const f = forms.find(pred)
      if (!f) throw new Error(`${path}: no ${what} form on the page (${summary(html)})`)
      return f
    }
    let chosen
    const values = {}
    if (forms.some((f) => has(f, 'password'))) {
      chosen = pick((f) => has(f, 'password'), 'password')
      values.identifier = this.identifier
      values.password = this.password
      values.lang = 'en'
    } else if (forms.some((f) => has(f, 'code'))) {
      chosen = pick((f) => has(f, 'code'), 'second-factor')
      if (!this.totpSecret) throw new Error(`${path}: a TOTP code is asked for but no secret was given`)
      values.code = nextTotp(this.totpSecret)
    } else if (forms.some((f) => f.controls.some((c) => c.name === 'decision' && c.value === 'allow'))) {
      chosen = pick((f) => f.controls.some((c) => c.name === 'decision' && c.value === 'allow'), 'consent')
      values.decision = 'allow'
    } else if (forms.some((f) => f.controls.some((c) => c.name === 'decision' && c.value === 'logout'))) {
      chosen = pick((f) => f.controls.some((c) => c.name === 'decision' && c.value === 'logout'), 'logout')
      values.decision = 'logout'
    } else {
      throw new Error(`${path}: a page this browser does not know how to answer (${summary(html)})`)
    }
    const body = new URLSearchParams()
    for (const c of chosen.controls) {
      if (!c.name || c.disabled || c.name in values) continue
      if (c.type === 'submit' || c.type === 'button' || c.type === 'image' || c.type === 'reset') continue
      // Consent: every optional scope and claim offered is allowed (ticked), as a citizen who
      // agrees to everything would do; other checkboxes keep their default state.
      if (c.type === 'checkbox' || c.type === 'radio') {
        if (c.checked || (c.type === 'checkbox' && (c.name === 'scope' || c.name === 'claim'))) {
          body.append(c.name, c.value || 'on')
        }
        continue
      }
      body.append(c.name, c.value)
    }
    for (const [k, v] of Object.entries(values)) body.append(k, v)
    const action = new URL(chosen.action || url, url).toString()
    return { action, form: body }
  }
}
