// The start page's live line: the charger going offline or online and the connector busy or
// free, from this connector's own event stream. Without it the page shows what it was loaded with.
(function () {
  "use strict";
  var line = document.getElementById("connector-live");
  if (!line || !window.EventSource) return;
  var source = new EventSource(line.getAttribute("data-stream"));
  source.onmessage = function (msg) {
    var s; try { s = JSON.parse(msg.data); } catch (err) { return; }
    line.querySelectorAll("[data-when]").forEach(function (el) {
      el.hidden = (el.getAttribute("data-when") === "online") !== s.online;
    });
    var status = line.querySelector('[data-field="connector_status"]');
    if (status) { status.textContent = s.status; status.className = "state " + s.status; }
    var start = document.getElementById("start");
    if (start) start.disabled = !s.free;
  };
})();
