// The dashboard follows the site without a reload: charger and session events (from the one
// EventSource of live.js) re-read the live part of the page, with the page's own filter, search
// and page number. On a big site events come by the thousand a second: the re-reads are
// coalesced, one at a time, at most one a second, none while the page is hidden or while
// someone types in the search box (the next event after that re-reads).
(function () {
  "use strict";
  var box = document.getElementById("dashboard-live");
  if (!box || !window.fetch) return;
  var TYPES = { ConnectorStatus: 1, SessionStarted: 1, SessionMeter: 1, SessionStopped: 1,
                StationOnline: 1, StationBooted: 1, PowerAllocated: 1,
                Resync: 1 };  // hosted: events from other processes may have been lost
  var EVERY_MS = 1000;
  var timer = null, busy = false, wanted = false, last = 0;
  function typing() {
    var el = document.activeElement;
    return el && el.id === "q" && box.contains(el);
  }
  function later() {
    if (timer !== null || busy) return;
    timer = setTimeout(refresh, Math.max(250, last + EVERY_MS - Date.now()));
  }
  function refresh() {
    timer = null;
    if (document.hidden || typing()) { wanted = true; return; }
    wanted = false; busy = true; last = Date.now();
    fetch("/dashboard/live" + window.location.search, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null && !typing()) box.innerHTML = html; })
      .catch(function () { /* the next event tries again */ })
      .then(function () { busy = false; if (wanted) later(); });
  }
  document.addEventListener("appliance:event", function (ev) {
    if (!TYPES[ev.detail.type]) return;
    wanted = true;
    later();
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden && wanted) later(); });
  box.addEventListener("focusout", function () { if (wanted) later(); });
})();
