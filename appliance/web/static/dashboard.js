// The dashboard follows the site without a reload: each charger or session event (from the one
// EventSource of live.js) re-reads the live part of the page, at most a few times a second.
(function () {
  "use strict";
  var box = document.getElementById("dashboard-live");
  if (!box || !window.fetch) return;
  var TYPES = { ConnectorStatus: 1, SessionStarted: 1, SessionMeter: 1, SessionStopped: 1,
                StationOnline: 1, StationBooted: 1, PowerAllocated: 1 };
  var timer = null;
  function refresh() {
    timer = null;
    fetch("/dashboard/live", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) box.innerHTML = html; })
      .catch(function () { /* the next event tries again */ });
  }
  document.addEventListener("appliance:event", function (ev) {
    if (TYPES[ev.detail.type] && timer === null) timer = setTimeout(refresh, 250);
  });
})();
