// Small progressive enhancements of the portal. No inline scripts: the CSP allows only same-origin files.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-autosubmit]").forEach(function (element) {
    element.addEventListener("change", function () { element.form.submit(); });
  });
  document.querySelectorAll("[data-nav-toggle]").forEach(function (button) {
    button.addEventListener("click", function () {
      var nav = document.getElementById(button.getAttribute("aria-controls"));
      var open = nav.classList.toggle("open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  });
  if (window.matchMedia("(min-width: 700px)").matches) {
    document.querySelectorAll("details[data-open-wide]").forEach(function (details) { details.open = true; });
  }
  document.querySelectorAll("[data-poll-url]").forEach(function (element) {
    // Progress blocks (long imports) are refreshed by htmx attributes; this is a fallback without htmx.
    if (window.htmx) { return; }
    setTimeout(function () { window.location.reload(); }, 3000);
  });
});
