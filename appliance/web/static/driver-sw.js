// The driver app's service worker: keeps the shell (styles, scripts, icons, the scanner page)
// and the last receipt opened, so the app opens and shows that receipt with no network. Pages
// with money on them always come from the box first; the cache is only for when it is away.
"use strict";
var SHELL = "driver-shell-v1", RECEIPT = "driver-last-receipt";
var FILES = ["/scan", "/static/driver.css", "/static/driver.js", "/static/driver-scan.js",
             "/static/driver-app.js",
             "/static/icons/driver-192.png", "/static/icons/driver-512.png",
             "/static/driver.webmanifest"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (c) { return c.addAll(FILES); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

function isReceipt(url) { return /^\/me\/receipts\/\d+$/.test(url.pathname); }

self.addEventListener("fetch", function (event) {
  var req = event.request, url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.indexOf("/static/") === 0 || url.pathname === "/scan") {
    event.respondWith(fetch(req).then(function (resp) {
      var copy = resp.clone();
      caches.open(SHELL).then(function (c) { c.put(req, copy); });
      return resp;
    }).catch(function () { return caches.match(req); }));
    return;
  }
  if (req.mode === "navigate") {
    event.respondWith(fetch(req).then(function (resp) {
      if (isReceipt(url) && resp.ok) {
        var copy = resp.clone();
        caches.open(RECEIPT).then(function (c) {
          return c.keys().then(function (old) {
            return Promise.all(old.map(function (k) { return c.delete(k); }));
          }).then(function () { return c.put("/last-receipt", copy); });
        });
      }
      return resp;
    }).catch(function () {
      return caches.open(RECEIPT).then(function (c) { return c.match("/last-receipt"); })
        .then(function (r) { return r || caches.match("/scan"); });
    }));
  }
});

// Web Push: the box tells this phone that charging ended; a tap opens the receipt.
self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = {}; }
  event.waitUntil(self.registration.showNotification(data.title || "Charging", {
    body: data.body || "", icon: "/static/icons/driver-192.png", data: {url: data.url || "/me"}}));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  event.waitUntil(self.clients.openWindow(event.notification.data.url || "/me"));
});
