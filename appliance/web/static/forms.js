// A form sent after the login expired comes back filled in: what was typed (never passwords,
// PINs or hidden fields) is kept in this tab only until the next page; that page refills it only
// when it is the same page, reached straight from the login page.
(function () {
  "use strict";
  var KEY = "appliance:typed";
  var here = location.pathname + location.search;
  var store = window.sessionStorage;
  if (!store) return;
  var kept = null;
  try { kept = JSON.parse(store.getItem(KEY) || "null"); } catch (err) { kept = null; }
  if (location.pathname !== "/login") {
    store.removeItem(KEY);
    var fromLogin = document.referrer && new URL(document.referrer).pathname === "/login";
    if (kept && fromLogin && kept.page === here && Date.now() - kept.at < 600000) {
      var form = document.querySelector('form[action="' + CSS.escape(kept.action) + '"]');
      if (form) Object.keys(kept.fields).forEach(function (name) {
        var el = form.elements.namedItem(name);
        if (el && el.type !== "hidden" && el.type !== "password") el.value = kept.fields[name];
      });
    }
  }
  if (location.pathname === "/login") return;  // the login form itself is never kept
  document.addEventListener("submit", function (event) {
    var form = event.target, fields = {};
    if (!form || !form.elements) return;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "hidden" || el.type === "password" || el.type === "submit" ||
          el.type === "checkbox" || el.type === "radio" || el.name === "pin") return;
      fields[el.name] = el.value;
    });
    store.setItem(KEY, JSON.stringify({ page: here, action: form.getAttribute("action") || here,
                                        fields: fields, at: Date.now() }));
  });
})();
