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

  // Exception queue: j/k move between items, a assigns to me, r replays as it stands (or retries a sync),
  // e opens the fix-and-replay form, o/Enter opens,
  // x selects for a bulk action, ? lists the keys. The current item survives htmx swaps by its id.
  var currentItem = null;
  function queueItems() { return Array.prototype.slice.call(document.querySelectorAll(".exception-item[data-item]")); }
  function selectItem(item) {
    queueItems().forEach(function (el) { el.classList.remove("is-current"); });
    if (!item) return;
    item.classList.add("is-current");
    item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "nearest" });
    currentItem = item.id;
  }
  function moveItem(step) {
    var items = queueItems();
    if (!items.length) return;
    var index = items.findIndex(function (el) { return el.id === currentItem; });
    selectItem(items[Math.max(0, Math.min(items.length - 1, index < 0 ? 0 : index + step))]);
  }
  function itemAction(name, missing) {
    var item = currentItem && document.getElementById(currentItem);
    var control = item && item.querySelector("[data-shortcut=" + name + "]");
    if (control) control.click();
    else if (item && missing) showToast(missing, "warning");
  }
  function showHelp() {
    var help = document.getElementById("shortcut-help");
    if (help && !help.open) help.showModal();
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-help]")) showHelp();
  });
  document.addEventListener("htmx:afterSettle", function () {
    var item = currentItem && document.getElementById(currentItem);
    if (item) item.classList.add("is-current");
  });
  var queueKeys = {
    j: function () { moveItem(1); }, k: function () { moveItem(-1); },
    a: function () { itemAction("assign"); },
    r: function () { itemAction("replay", "Nothing to replay or retry here: open the item (o) to see what it needs."); },
    e: function () { itemAction("fix"); },
    o: function () { var item = currentItem && document.getElementById(currentItem); var link = item && item.querySelector(".item-link"); if (link) link.click(); },
    x: function () { var item = currentItem && document.getElementById(currentItem); var box = item && item.querySelector(".bulk-select"); if (box) box.checked = !box.checked; },
    "?": showHelp
  };
  queueKeys.Enter = queueKeys.o;

  // Keyboard: "/" focuses the page's search box; "g" then a letter goes to an area.
  var pendingG = false;
  var areas = { o: "/overview", s: "/stock", p: "/suppliers", u: "/admin/users" };
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || tag === "button" || event.target.isContentEditable ||
        event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector("dialog[open]")) return;
    if (!pendingG && queueKeys[event.key] && (queueItems().length || event.key === "?") && document.getElementById("exception-list")) {
      event.preventDefault();
      queueKeys[event.key]();
      return;
    }
    if (event.key === "/") {
      var search = document.querySelector("input[type=search]");
      if (search) { event.preventDefault(); search.focus(); }
    } else if (pendingG && areas[event.key]) {
      window.location.href = areas[event.key];
    }
    pendingG = event.key === "g";
  });
})();
