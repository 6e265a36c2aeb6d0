// Ask before sending a command that has a data-confirm text; without JavaScript it just sends.
// One listener on the document, so forms a live page swaps in are asked too.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form && form.matches && form.matches("form[data-confirm]") &&
      !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
});
