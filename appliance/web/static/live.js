// Live parts of the staff pages: one EventSource on /events; the page works without it.
(function () {
  "use strict";
  if (!window.EventSource) return;
  var source = new EventSource("/events");
  // Statuses in the reader's language: the page carries the translated labels.
  var labels = {};
  try { labels = JSON.parse(document.body.getAttribute("data-labels") || "{}"); } catch (err) {}
  function label(value) { return labels[value] || value; }
  var handlers = {
    ConnectorStatus: function (e) {
      var el = document.querySelector('[data-connector="' + CSS.escape(e.station_id + "/" + e.connector_id) + '"] .state');
      if (el) { el.textContent = label(e.status); el.className = "state " + e.status; }
    },
    StationOnline: function (e) {
      var card = document.querySelector('[data-station="' + CSS.escape(e.station_id) + '"]');
      if (!card) return;
      card.classList.toggle("attention", !e.online);
      var badge = card.querySelector(".online");
      if (badge) { badge.textContent = label(e.online ? "online" : "offline");
                   badge.className = "online state " + (e.online ? "Available" : "Offline"); }
      if (!e.online) card.querySelectorAll(".connector .state").forEach(function (s) {
        s.textContent = label("Offline"); s.className = "state Offline"; });
    },
    SessionMeter: function (e) {
      var el = document.querySelector('[data-connector="' + CSS.escape(e.station_id + "/" + e.connector_id) + '"] .meter');
      // The cost is recomputed on the next page load; energy and power follow live.
      if (el) el.textContent = (e.energy_wh / 1000).toFixed(2) + " kWh" +
        (e.power_w != null ? " · " + (e.power_w / 1000).toFixed(1) + " kW" : "");
    },
    TagSeen: function (e) {
      var box = document.getElementById("tapped-tag");
      if (box && e.source === "reader") { box.value = e.id_tag; box.dispatchEvent(new Event("change")); }
    }
  };
  // "Last seen" moves with each message the box hears from a charger (as events tell it).
  function seen(e) {
    if (!e.station_id || !e.at) return;
    document.querySelectorAll('[data-last-seen="' + CSS.escape(e.station_id) + '"]').forEach(function (el) {
      var when = new Date(e.at), tz = el.getAttribute("data-tz") || undefined;
      try {
        var parts = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit",
          day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" })
          .formatToParts(when).reduce(function (o, p) { o[p.type] = p.value; return o; }, {});
        el.textContent = parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" +
          parts.minute + ":" + parts.second;
      } catch (err) { el.textContent = when.toISOString(); }
    });
  }
  // The page was drawn before its stream began, and a stream hears only what comes after it
  // (the server subscribes before it answers): once open, and after every reconnect, what
  // follows events reads its state again, as after a hosted process's Resync.
  source.onopen = function () {
    document.dispatchEvent(new CustomEvent("appliance:event", { detail: { type: "Resync" } }));
  };
  source.onmessage = function (msg) {
    var e; try { e = JSON.parse(msg.data); } catch (err) { return; }
    if (e.type !== "StationOnline" || e.online) seen(e);
    if (handlers[e.type]) handlers[e.type](e);
    document.dispatchEvent(new CustomEvent("appliance:event", { detail: e }));
  };
})();
