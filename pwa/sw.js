// Afterglow's service worker. Served at /sw.js by server/pwa/routes.py, which puts the line
// `const SHELL = {version, urls, pages}` above this file (server/pwa/shell.py).
//
// - install: precache the shell (PHI-free pages, static files, manifest) into a cache named by version.
// - activate: delete every older cache, take control of open pages.
// - navigations: network first; offline, the cached shell page itself (a new reflection: the shell's
//   empty form) or else the offline page.
// - /static/: cache first (the cache is versioned), network when missing, never added on the fly.
// - never stores a response marked no-store or private: pages with patient data say no-store.
// - sign-out: the page asks it to delete every cache; it answers when done.
// - Background Sync (Chromium): replays the outbox; pages also replay on load, online and visibility.
// - push: shows the reminder (generic text only) and opens the app when tapped.
/* global SHELL */
"use strict";

importScripts("/static/js/outbox-core.js");

const CACHE_PREFIX = "afterglow-shell-";
const CACHE = CACHE_PREFIX + SHELL.version;
const PAGES = new Set(SHELL.pages);

// The one gate to Cache Storage: whatever asks, a response with patient data never passes.
function storable(response) {
  if (!response || !response.ok || response.type !== "basic" || response.redirected) return false;
  const cacheControl = (response.headers.get("Cache-Control") || "").toLowerCase();
  return !cacheControl.includes("no-store") && !cacheControl.includes("private");
}

async function safePut(cache, url, response) {
  if (!storable(response)) {
    console.warn("afterglow: not caching", url);
    return false;
  }
  await cache.put(url, response);
  return true;
}

async function precache() {
  const cache = await caches.open(CACHE);
  await Promise.all(
    SHELL.urls.map(async (url) => {
      const response = await fetch(url, { cache: "reload", credentials: "same-origin" });
      await safePut(cache, url, response);
    }),
  );
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache());
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(names.filter((n) => n.startsWith(CACHE_PREFIX) && n !== CACHE).map((n) => caches.delete(n)));
      await self.clients.claim();
    })(),
  );
});

async function fromNetworkFirst(request) {
  const url = new URL(request.url);
  try {
    const response = await fetch(request);
    // Keep the shell's own pages fresh (the help page's numbers, say) while the shell is installed;
    // never re-create a cache that sign-out deleted.
    if (PAGES.has(url.pathname) && !url.search && (await caches.has(CACHE))) {
      const cache = await caches.open(CACHE);
      await safePut(cache, url.pathname, response.clone());
    }
    return response;
  } catch (error) {
    const cache = await caches.open(CACHE);
    const shellPage = shellPageFor(url);
    const page = shellPage ? await cache.match(shellPage) : null;
    return page || (await cache.match("/offline")) || Response.error();
  }
}

// Offline, a new reflection opens from the shell's empty copy of its form (the page carries ?session= over
// itself). Editing one (?entry=) needs the server's copy of it, so that gets the offline page.
function shellPageFor(url) {
  if (PAGES.has(url.pathname)) return url.pathname;
  const reflection = url.pathname.match(/^\/reflect\/([a-z_]+)$/);
  if (!reflection || url.searchParams.has("entry")) return null;
  const page = reflection[1] === "free" ? "/app/reflect" : `/app/reflect/${reflection[1]}`;
  return PAGES.has(page) ? page : null;
}

async function fromCacheFirst(request) {
  const cached = await caches.match(request, { cacheName: CACHE });
  return cached || fetch(request);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(fromNetworkFirst(request));
  } else if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(fromCacheFirst(request));
  }
  // Everything else (the API above all) goes to the network untouched.
});

async function deleteAllCaches() {
  const names = await caches.keys();
  await Promise.all(names.map((name) => caches.delete(name)));
}

self.addEventListener("message", (event) => {
  const message = event.data || {};
  const reply = (value) => event.ports[0] && event.ports[0].postMessage(value);
  if (message.type === "skip-waiting") {
    self.skipWaiting();
  } else if (message.type === "sign-out") {
    event.waitUntil(
      (async () => {
        await deleteAllCaches();
        await self.AfterglowOutbox.destroy();
        reply({ done: true });
      })(),
    );
  } else if (message.type === "warm") {
    // A signed-in page after a sign-out on this phone: put the shell back for offline use.
    event.waitUntil(
      (async () => {
        if (!(await caches.has(CACHE))) await precache();
        reply({ done: true });
      })(),
    );
  }
});

self.addEventListener("sync", (event) => {
  if (event.tag !== "afterglow-outbox") return;
  event.waitUntil(
    (async () => {
      const csrfToken = await self.AfterglowOutbox.getMeta("csrf");
      const results = await self.AfterglowOutbox.replay({ csrfToken });
      // Still offline: throwing makes the browser try this sync again later.
      if (results.some((r) => r.outcome === "pending")) throw new Error("outbox not empty");
    })(),
  );
});

self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = {};
  }
  const title = message.title || "Afterglow";
  event.waitUntil(
    self.registration.showNotification(title, {
      body: message.body || "You have a reminder",
      tag: message.tag || "afterglow",
      icon: "/static/icons/icon-192.png",
      badge: "/static/icons/icon-192.png",
      data: { url: message.url || "/home" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/home", self.location.origin);
  if (target.origin !== self.location.origin) return;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const client of windows) {
        if ("focus" in client) {
          await client.focus();
          return client.navigate(target.href);
        }
      }
      return self.clients.openWindow(target.href);
    })(),
  );
});
