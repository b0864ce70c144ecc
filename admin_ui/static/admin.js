/* Customer Groups admin: the shared helpers (no build step, no inline script: the CSP
   allows script-src 'self' only). Pages use window.CG:
     CG.api(path, {method, body, signal}) -> parsed JSON (or text); throws CG.ApiError
       {status, code, message, details}. Sends the admin session and CSRF headers, no cookie.
     CG.debounce(fn, ms)
   Markup hooks:
     <button data-confirm="Delete X?">     asks in a modal <dialog> before submitting
     <input type=color data-colour-for=ID> keeps a colour picker and a hex text field in step
     <input type=checkbox data-select-all=NAME>, <p data-selected-count=NAME> (lists) */
(function () {
  "use strict";

  function meta(name) {
    const element = document.querySelector('meta[name="' + name + '"]');
    return element ? element.content : "";
  }

  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || "The request failed (" + status + ").");
      this.status = status;
      this.code = error.code || "error";
      this.details = error.details || {};
    }
  }

  async function api(path, options) {
    options = options || {};
    const headers = {
      Accept: "application/json",
      "X-Admin-Session": meta("cg-session"),
      "X-CSRF-Token": meta("cg-csrf"),
    };
    let body = options.body;
    if (body !== undefined && typeof body !== "string" && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(body);
    }
    const response = await fetch(path, {
      method: options.method || (body === undefined ? "GET" : "POST"),
      headers: Object.assign(headers, options.headers || {}),
      body: body,
      credentials: "omit",
      signal: options.signal,
    });
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      throw new ApiError(response.status, data);
    }
    return data;
  }

  function debounce(fn, ms) {
    let timer = null;
    return function () {
      const args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  /* Confirm before submitting: a modal <dialog> (keyboard: Tab between the two buttons,
     Escape cancels), which also works where a host sandboxes window.confirm. */
  function confirmSubmit(button) {
    const dialog = document.createElement("dialog");
    dialog.className = "confirm";
    dialog.setAttribute("aria-labelledby", "confirm-text");
    const text = document.createElement("p");
    text.id = "confirm-text";
    text.textContent = button.dataset.confirm;
    const actions = document.createElement("div");
    actions.className = "actions";
    const yes = document.createElement("button");
    yes.type = "button";
    yes.className = "button danger";
    yes.textContent = button.dataset.confirmLabel || "Yes, " + (button.textContent || "continue").trim().toLowerCase();
    const no = document.createElement("button");
    no.type = "button";
    no.className = "button secondary";
    no.textContent = "Cancel";
    actions.append(no, yes);
    dialog.append(text, actions);
    document.body.append(dialog);
    dialog.addEventListener("close", function () { dialog.remove(); button.focus(); });
    no.addEventListener("click", function () { dialog.close(); });
    yes.addEventListener("click", function () {
      button.dataset.confirmed = "yes";
      dialog.close();
      button.form.requestSubmit(button);
    });
    dialog.showModal();
    no.focus();
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-confirm]");
    if (!button || button.dataset.confirmed === "yes") {
      return;
    }
    event.preventDefault();
    confirmSubmit(button);
  });

  function syncColours() {
    document.querySelectorAll("input[type=color][data-colour-for]").forEach(function (picker) {
      const text = document.getElementById(picker.dataset.colourFor);
      if (!text) {
        return;
      }
      picker.addEventListener("input", function () { text.value = picker.value; });
      text.addEventListener("input", function () {
        if (/^#[0-9a-fA-F]{6}$/.test(text.value.trim())) {
          picker.value = text.value.trim().toLowerCase();
        }
      });
    });
  }

  /* <input type=checkbox data-select-all=NAME> ticks every NAME checkbox of its form;
     <… data-selected-count=NAME> says how many are ticked. */
  function selections() {
    document.querySelectorAll("[data-select-all]").forEach(function (all) {
      const boxes = function () {
        return all.form.querySelectorAll('input[type=checkbox][name="' + all.dataset.selectAll + '"]');
      };
      all.addEventListener("change", function () {
        boxes().forEach(function (box) { box.checked = all.checked; });
        all.form.dispatchEvent(new Event("change"));
      });
    });
    document.querySelectorAll("[data-selected-count]").forEach(function (counter) {
      const form = counter.closest("form");
      const name = counter.dataset.selectedCount;
      const update = function () {
        const count = form.querySelectorAll('input[type=checkbox][name="' + name + '"]:checked').length;
        counter.textContent = count + " selected";
      };
      form.addEventListener("change", update);
      update();
    });
  }

  function forgetFlash() {
    /* A live region announces changes, not what it held on load: put the message a
       redirect carried back in a moment later so screen readers read it out. */
    const area = document.querySelector(".flash-area");
    const message = area && area.querySelector(".flash");
    if (message) {
      message.remove();
      setTimeout(function () { area.prepend(message); }, 150);
    }
    /* A message a redirect carried is shown once: a reload does not show it again. */
    const url = new URL(window.location.href);
    if (url.searchParams.has("flash")) {
      url.searchParams.delete("flash");
      window.history.replaceState(null, "", url.toString());
    }
  }

  function focusErrors() {
    const summary = document.querySelector(".error-summary");
    if (summary) {
      summary.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    syncColours();
    selections();
    forgetFlash();
    focusErrors();
  });

  window.CG = { api: api, debounce: debounce, ApiError: ApiError, meta: meta };
})();
