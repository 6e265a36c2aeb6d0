// The app's QR scanner: the camera through BarcodeDetector where the browser has it; a code
// that names one of this box's connectors opens it. Without it, the page says to use the
// phone's camera app (the stickers also print the address as text).
(function () {
  "use strict";
  var video = document.getElementById("scan-video");
  var note = document.getElementById("scan-note");
  if (!video) return;
  function say(id) {
    document.querySelectorAll("[data-note]").forEach(function (el) {
      el.hidden = el.getAttribute("data-note") !== id;
    });
  }
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) { say("unsupported"); return; }
  var detector = new window.BarcodeDetector({formats: ["qr_code"]});
  function open(text) {
    try {
      var url = new URL(text, window.location.href);
      var match = url.pathname.match(/^\/c\/[^/]+\/\d+$/);
      if (match) { window.location.href = url.origin === window.location.origin ? url.pathname : url.href; return true; }
    } catch (e) { /* not a URL */ }
    say("foreign");
    return false;
  }
  navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}}).then(function (stream) {
    video.srcObject = stream;
    return video.play();
  }).then(function () {
    say("looking");
    var tick = function () {
      detector.detect(video).then(function (codes) {
        if (codes.length && open(codes[0].rawValue)) return;
        window.setTimeout(tick, 250);
      }).catch(function () { window.setTimeout(tick, 500); });
    };
    tick();
  }).catch(function () { say("denied"); });
  if (note) note.hidden = true;
})();
