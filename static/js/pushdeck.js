/* Pushdeck behaviours. No inline script anywhere: pages declare data-* attributes. */
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches("select[data-navigate]")) {
      window.location.href = el.value;
    } else if (el.matches("select[data-autosubmit]")) {
      el.form.submit();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Before htmx sends a form that asks for confirmation, ask.
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !event.detail.question) {
      event.preventDefault();
      if (window.confirm(form.getAttribute("data-confirm"))) {
        event.detail.issueRequest(true);
      }
    }
  });

  // After a partial swap, move focus somewhere sensible for keyboard users.
  // A swap the person asked for (a filter, a pager link, a reveal) moves focus to the new content.
  // A background refresh (hx-trigger "every"/"load") or a target marked data-keep-focus leaves
  // focus where the person put it; if the focused control itself was replaced, its successor
  // (same id, or same position inside the swapped element) takes focus.
  var FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";
  var pendingFocus = null;

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var active = document.activeElement;
    pendingFocus = null;
    if (target && active && active !== document.body && target.contains(active)) {
      pendingFocus = {
        boxId: target.id,
        activeId: active.id,
        index: Array.prototype.indexOf.call(target.querySelectorAll(FOCUSABLE), active)
      };
    }
  });

  function restoreFocus(saved) {
    var el = saved.activeId ? document.getElementById(saved.activeId) : null;
    if (!el && saved.boxId && saved.index >= 0) {
      var box = document.getElementById(saved.boxId);
      if (box) { el = box.querySelectorAll(FOCUSABLE)[saved.index]; }
    }
    if (el) { el.focus({ preventScroll: true }); }
  }

  function isBackgroundRefresh(elt) {
    return !!elt && /(^|[\s,])(every|load)\b/.test(elt.getAttribute("hx-trigger") || "");
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var saved = pendingFocus;
    pendingFocus = null;
    var target = event.detail.target;
    if (!target) { return; }
    // outerHTML swaps replace the target: look at its successor.
    var box = (!document.contains(target) && target.id && document.getElementById(target.id)) || target;
    var active = document.activeElement;
    var lost = !active || active === document.body || !document.contains(active);
    if (isBackgroundRefresh(event.detail.elt) || box.hasAttribute("data-keep-focus")) {
      if (lost && saved) { restoreFocus(saved); }
      return;
    }
    var focusable = box.querySelector("[data-autofocus], [role=alert], h2, h3, input, button, a[href]");
    if (focusable) {
      if (!focusable.hasAttribute("tabindex") && !/^(INPUT|BUTTON|A|SELECT|TEXTAREA)$/.test(focusable.tagName)) {
        focusable.setAttribute("tabindex", "-1");
      }
      focusable.focus({ preventScroll: false });
    }
  });

  // A preview needs only the start of a dropped file: send its first bytes, not all of it
  // (file inputs declare the size with data-upload-slice).
  document.addEventListener("htmx:configRequest", function (event) {
    var formData = event.detail.formData;
    if (!formData) { return; }
    document.querySelectorAll("input[type=file][data-upload-slice]").forEach(function (input) {
      var file = input.files && input.files[0];
      var limit = parseInt(input.getAttribute("data-upload-slice"), 10);
      if (file && limit > 0 && file.size > limit && formData.has(input.name)) {
        formData.set(input.name, file.slice(0, limit), file.name);
      }
    });
  });

  // After a full page load that answers a form (a preview, or errors), start where the answer is:
  // the element marked data-autofocus, else the first field with an error.
  document.addEventListener("DOMContentLoaded", function () {
    var target = document.querySelector("main [data-autofocus]") || document.querySelector("main [aria-invalid=true]");
    if (target) {
      if (!target.hasAttribute("tabindex") && !/^(INPUT|BUTTON|A|SELECT|TEXTAREA)$/.test(target.tagName)) {
        target.setAttribute("tabindex", "-1");
      }
      target.focus();
    }
  });

  window.Pushdeck = window.Pushdeck || {};
})();
