/* The pages' few behaviours, in one file so the Content-Security-Policy needs no inline handlers.
   Each is switched on by a data- attribute:
   data-print (click: print the page), data-select (click: select the text), data-back (click: go
   back), data-confirm="question" (form submit or button click: ask first), data-autosubmit
   (change: submit the form), data-slug-form (submit: go to /t/<slug>/). */
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var el = e.target.closest("[data-print], [data-select], [data-back], button[data-confirm]");
    if (!el) return;
    if (el.hasAttribute("data-print")) { e.preventDefault(); window.print(); }
    else if (el.hasAttribute("data-select")) { el.select(); }
    else if (el.hasAttribute("data-back")) { e.preventDefault(); history.back(); }
    else if (!window.confirm(el.getAttribute("data-confirm"))) { e.preventDefault(); }
  });
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      e.preventDefault();
    } else if (form.hasAttribute("data-slug-form")) {
      e.preventDefault();
      location.href = "/t/" + encodeURIComponent(form.elements.slug.value.trim()) + "/";
    }
  });
  document.addEventListener("change", function (e) {
    if (e.target.hasAttribute && e.target.hasAttribute("data-autosubmit")) e.target.form.submit();
  });
})();
