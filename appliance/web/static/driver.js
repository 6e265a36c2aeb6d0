// The driver's live page: one EventSource on this start's own stream; each message is the
// start's whole state, already formatted by the server. The page works without it (reload).
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box || !window.EventSource) return;
  var state = null, since = Date.now();

  function duration(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }
  function set(name, text) {
    box.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) { el.textContent = text; });
  }
  function show(phase) {
    box.querySelectorAll("[data-show]").forEach(function (el) {
      el.hidden = el.getAttribute("data-show").split(" ").indexOf(phase) < 0;
    });
  }
  function apply(s) {
    state = s; since = Date.now();
    set("energy", s.energy_text); set("power", s.power_text); set("cost", s.cost_text);
    set("duration", duration(s.duration_s)); set("message", s.message);
    if (s.balance_text) set("balance", s.balance_text);
    var offline = document.getElementById("offline-note");
    if (offline) offline.hidden = s.online !== false || s.final;
    box.setAttribute("data-state", s.state);
    var receipt = document.getElementById("receipt");
    if (receipt && s.session_id) receipt.href = receipt.getAttribute("data-href") + s.session_id;
    show(s.state);
  }
  var source = new EventSource(box.getAttribute("data-stream"));
  source.onmessage = function (msg) {
    var s; try { s = JSON.parse(msg.data); } catch (err) { return; }
    apply(s);
    if (s.final) source.close();
  };
  // The clock runs between samples; energy and cost move with the charger's reports.
  setInterval(function () {
    if (state && state.state === "charging")
      set("duration", duration(state.duration_s + Math.floor((Date.now() - since) / 1000)));
  }, 1000);
})();
