// The driver app: the service worker that keeps the shell and the last receipt offline.
// The pages work the same without it.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/driver-sw.js").catch(function () { /* plain pages */ });
}
