// Asks before a form marked `data-confirm="Question?"` is sent (destructive actions). A static file
// rather than an inline onsubmit handler, so the Content-Security-Policy can forbid inline script.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();
