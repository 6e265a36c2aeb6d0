// The receipt's print button (inline handlers are not allowed by the pages' CSP).
var button = document.getElementById("print");
if (button) button.addEventListener("click", function () { window.print(); });
