/* The offline capture app's service worker (issue 14), scoped to one township's /t/<slug>/field/.
   It keeps the app shell (the page at the scope, network first, the kept copy without signal) and
   the static files the shell asks for (cache first: their URLs carry their content hash). It
   never touches the data endpoint or a POST: the page keeps its data and queue in IndexedDB and
   sends them itself. Signing out clears this cache with the rest of the site's storage
   (Clear-Site-Data), so no one else's shell is kept. */
"use strict";
var CACHE = "jifen-field-v1";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (e) { e.waitUntil(self.clients.claim()); });

function keep(key, resp) {
  if (resp.ok && resp.type === "basic" && !resp.redirected) {
    var copy = resp.clone();
    caches.open(CACHE).then(function (c) { c.put(key, copy); });
  }
  return resp;
}

self.addEventListener("fetch", function (e) {
  var req = e.request;
  if (req.method !== "GET") return;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  var scope = new URL(self.registration.scope).pathname;
  if (req.mode === "navigate" && url.pathname === scope) {
    e.respondWith(fetch(req).then(function (resp) { return keep(scope, resp); }, function () {
      return caches.match(scope, { ignoreVary: true, ignoreSearch: true }).then(function (kept) {
        return kept || Response.error();
      });
    }));
  } else if (url.pathname.indexOf("/static/") === 0) {
    e.respondWith(caches.match(req, { ignoreVary: true }).then(function (kept) {
      return kept || fetch(req).then(function (resp) { return keep(req, resp); });
    }));
  }
});
