// The app's QR scanner: the camera through BarcodeDetector where the browser has it, else the
// vendored jsQR decoder (loaded only then) on frames drawn to a canvas; a code that names one of
// this box's connectors opens it. Without a camera, the page says to use the phone's camera app
// (the stickers also print the address as text).
(function () {
  "use strict";
  var video = document.getElementById("scan-video");
  var note = document.getElementById("scan-note");
  if (!video) return;
  function say(id) {
    if (note) note.hidden = true;  // the first words stay while the browser asks for the camera
    document.querySelectorAll("[data-note]").forEach(function (el) {
      el.hidden = el.getAttribute("data-note") !== id;
    });
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { say("unsupported"); return; }
  function open(text) {
    try {
      var url = new URL(text, window.location.href);
      var match = url.pathname.match(/^\/c\/[^/]+\/\d+$/);
      if (match) { window.location.href = url.origin === window.location.origin ? url.pathname : url.href; return true; }
    } catch (e) { /* not a URL */ }
    say("foreign");
    return false;
  }
  function nativeReader() {
    var detector = new window.BarcodeDetector({formats: ["qr_code"]});
    return function () {
      return detector.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
    };
  }
  function jsqrReader() {
    var canvas = document.createElement("canvas");
    var context = canvas.getContext("2d", {willReadFrequently: true});
    return function () {
      var w = video.videoWidth, h = video.videoHeight;
      if (!w || !h) return Promise.resolve(null);
      var scale = Math.min(1, 800 / Math.max(w, h));  // a phone's 4K frame is slow to read
      canvas.width = Math.round(w * scale); canvas.height = Math.round(h * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var code = window.jsQR(image.data, image.width, image.height, {inversionAttempts: "dontInvert"});
      return Promise.resolve(code ? code.data : null);
    };
  }
  function loadJsqr() {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = "/static/vendor/jsqr/jsQR.js";
      script.onload = function () { resolve(jsqrReader()); };
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }
  var native = "BarcodeDetector" in window;
  document.documentElement.setAttribute("data-scanner", native ? "native" : "jsqr");
  var reader = native ? Promise.resolve(nativeReader()) : loadJsqr();
  navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}}).then(function (stream) {
    video.srcObject = stream;
    return video.play();
  }).then(function () { return reader; }).then(function (read) {
    say("looking");
    var tick = function () {
      read().then(function (text) {
        if (text && open(text)) return;
        window.setTimeout(tick, 250);
      }).catch(function () { window.setTimeout(tick, 500); });
    };
    tick();
  }).catch(function (err) {
    say(err && err.name === "NotAllowedError" ? "denied" : "unsupported");
  });
})();
