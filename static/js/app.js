// Dropdesk's only script: toasts, htmx error messages, keyboard shortcuts. Kept tiny on purpose.
(function () {
  "use strict";

  function closeToastLater(toast) {
    var wait = parseInt(toast.getAttribute("data-autoclose") || "6000", 10);
    setTimeout(function () { toast.remove(); }, wait);
  }

  function showToast(text, category) {
    var region = document.getElementById("toasts");
    if (!region) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (category || "error");
    toast.setAttribute("data-autoclose", "8000");
    var span = document.createElement("span");
    span.textContent = text;
    var close = document.createElement("button");
    close.type = "button"; close.className = "toast-close"; close.setAttribute("aria-label", "Dismiss"); close.textContent = "×";
    toast.appendChild(span); toast.appendChild(close);
    region.appendChild(toast);
    closeToastLater(toast);
  }

  document.addEventListener("click", function (event) {
    if (event.target.classList && event.target.classList.contains("toast-close")) {
      event.target.closest(".toast").remove();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".toast").forEach(closeToastLater);
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
  });

  // Toasts delivered out of band after an htmx request.
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "toasts") {
      event.detail.target.querySelectorAll(".toast").forEach(closeToastLater);
    }
  });

  // htmx does not swap error responses: say what happened instead of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/plain") === 0 && xhr.responseText
      ? xhr.responseText : "The request failed (" + xhr.status + "). Try again.";
    showToast(text, "error");
  });
  document.addEventListener("htmx:sendError", function () {
    showToast("Dropdesk cannot be reached. Check your connection and try again.", "error");
  });

  // Keyboard: "/" focuses the page's search box; "g" then a letter goes to an area.
  var pendingG = false;
  var areas = { o: "/overview", s: "/stock", p: "/suppliers", u: "/admin/users" };
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "/") {
      var search = document.querySelector("input[type=search]");
      if (search) { event.preventDefault(); search.focus(); }
    } else if (pendingG && areas[event.key]) {
      window.location.href = areas[event.key];
    }
    pendingG = event.key === "g";
  });
})();
