// The driver app: the service worker that keeps the shell and the last receipt offline.
// The pages work the same without it.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/driver-sw.js").catch(function () { /* plain pages */ });
}

// Web Push: on "my account", a button lets this phone be told when charging ends. Shown only
// where the browser can (a service worker, PushManager and notifications).
(function () {
  "use strict";
  var box = document.getElementById("push"), button = document.getElementById("push-on");
  if (!box || !button || !("serviceWorker" in navigator) || !("PushManager" in window) ||
      !("Notification" in window)) return;
  box.hidden = false;
  function show(which) {
    box.querySelectorAll("[data-push]").forEach(function (el) { el.hidden = el.getAttribute("data-push") !== which; });
  }
  function key(text) {
    var raw = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    return Uint8Array.from(raw, function (c) { return c.charCodeAt(0); });
  }
  button.addEventListener("click", function () {
    Notification.requestPermission().then(function (answer) {
      if (answer !== "granted") { show("refused"); return null; }
      return Promise.all([navigator.serviceWorker.ready,
                          fetch("/me/push/key").then(function (r) { return r.json(); })]);
    }).then(function (both) {
      if (!both) return null;
      return both[0].pushManager.subscribe({userVisibleOnly: true, applicationServerKey: key(both[1].key)});
    }).then(function (sub) {
      if (!sub) return;
      return fetch("/me/push", {method: "POST", body: JSON.stringify(sub),
                                headers: {"Content-Type": "application/json", "X-CSRF-Token": box.getAttribute("data-csrf")}})
        .then(function (r) { if (r.ok) { show("on"); button.hidden = true; } });
    }).catch(function () { show("refused"); });
  });
})();
