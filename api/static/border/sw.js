/*
 * NatID border verifier: the service worker that keeps the page working offline.
 *
 * The server prepends `const CONFIG = {version, pages, assets, lists}` (api/routers/border.py).
 * - Install: cache the page (both languages), its scripts and style, and the two lists.
 * - The page and the lists (trust list, revocation list): network first, so an online officer
 *   always gets fresh ones; the cached copy when the network fails. Every fresh answer
 *   replaces the cached one.
 * - Scripts and style: cache first; their URLs carry the content version, and a new version of
 *   this worker (its CONFIG changes) installs a new cache and deletes the old.
 * - Anything else (the API) goes to the network untouched.
 */
/* global CONFIG */
"use strict";
const CACHE = "natid-border-" + CONFIG.version;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(CONFIG.assets.concat(CONFIG.pages)).then(() => cache))
      .then((cache) => Promise.all(CONFIG.lists.map((url) =>
        fetch(url, { cache: "no-cache" }).then((r) => (r.ok ? cache.put(url, r) : null)).catch(() => null))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("natid-border-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

async function networkFirst(request, fallbacks) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (err) {
    for (const key of [request, ...fallbacks]) {
      const hit = await cache.match(key);
      if (hit) return hit;
    }
    throw err;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // Lists are matched with their query (the trust list is "/health/trustlist?scope=all").
  const listUrl = url.pathname + url.search;
  if (CONFIG.lists.includes(listUrl)) {
    event.respondWith(networkFirst(new Request(listUrl, { cache: "no-cache" }), []));
  } else if (url.pathname === CONFIG.pages[0]) {
    const lang = url.searchParams.get("lang");
    const fallbacks = CONFIG.pages.filter((p) => !lang || p.endsWith("lang=" + lang)).concat(CONFIG.pages);
    event.respondWith(networkFirst(request, fallbacks));
  } else if (CONFIG.assets.includes(url.pathname + url.search)) {
    event.respondWith(cacheFirst(request));
  }
});
