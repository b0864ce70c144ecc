/* The segment builder: each condition shows the operators and value input of its field,
   and a live count of matching customers comes from POST /api/segments/preview (the
   admin API, with the admin session) a moment after each change. The conversion from
   inputs to {field, op, value} is the one admin_ui/segments.py does when saving. */
(function () {
  "use strict";

  const WHOLE = /^[+-]?\d{1,16}$/;
  const DAYS = /^-?\d{1,5}$/;

  function toMinor(text, exponent) {
    const match = /^(\d{1,13})(?:[.,](\d+))?$/.exec(text.trim());
    if (!match || (match[2] || "").length > exponent) {
      return null;
    }
    const fraction = (match[2] || "").padEnd(exponent, "0");
    return parseInt(match[1] + fraction, 10);
  }

  function input(row, name) {
    return row.querySelector('[data-input="' + name + '"]');
  }

  function conditionOf(row, spec, exponent) {
    const field = input(row, "field").value;
    const kind = (spec[field] || {}).kind;
    const op = input(row, "op").value;
    let value;
    if (kind === "date") {
      if (input(row, "date_mode").value === "relative") {
        const days = input(row, "days").value.trim();
        value = DAYS.test(days) ? (parseInt(days, 10) >= 0 ? "-" + Math.abs(parseInt(days, 10)) + "d" : "+" + Math.abs(parseInt(days, 10)) + "d") : days;
      } else {
        value = input(row, "date").value.trim();
      }
    } else if (kind === "int") {
      const text = input(row, "number").value.trim();
      value = WHOLE.test(text) ? parseInt(text, 10) : text;
    } else if (kind === "money") {
      const text = input(row, "money").value;
      const minor = toMinor(text, exponent);
      value = minor === null ? text : minor;
    } else if (kind === "bool") {
      value = input(row, "bool").value === "yes";
    } else if (kind === "ids") {
      value = input(row, "ids").value.split(/[\s,]+/).filter(Boolean);
    } else if (kind === "choice") {
      value = input(row, "choice").value;
    } else {
      value = input(row, "text").value;
    }
    return { field: field, op: op, value: value };
  }

  /* Show the value input of the row's field and offer its operators. */
  function shapeRow(row, spec) {
    const field = input(row, "field").value;
    const entry = spec[field];
    if (!entry) {
      return;
    }
    row.querySelectorAll("[data-kind]").forEach(function (box) {
      box.hidden = box.dataset.kind !== entry.kind;
    });
    const op = input(row, "op");
    const current = op.value;
    const offered = entry.ops.map(function (pair) { return pair[0]; });
    if (offered.join() !== Array.from(op.options).map(function (o) { return o.value; }).join()) {
      op.replaceChildren();
      entry.ops.forEach(function (pair) {
        const option = document.createElement("option");
        option.value = pair[0];
        option.textContent = pair[1];
        op.append(option);
      });
      op.value = offered.includes(current) ? current : offered[0];
    }
    const relative = input(row, "date_mode").value === "relative";
    row.querySelector('[data-mode="date"]').hidden = relative;
    row.querySelector('[data-mode="relative"]').hidden = !relative;
  }

  function plural(count, one, many) {
    return count + " " + (count === 1 ? one : many);
  }

  function nameOf(customer) {
    const name = [customer.first_name, customer.last_name].filter(Boolean).join(" ");
    return name || customer.email || customer.id;
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.querySelector("form.segment-builder");
    if (!form) {
      return;
    }
    const spec = JSON.parse(form.dataset.spec);
    const exponent = parseInt(form.dataset.exponent, 10);
    const live = document.getElementById("live-count");
    let sequence = 0;
    let inFlight = null;

    function rows() {
      return Array.from(form.querySelectorAll("[data-row]"));
    }

    async function count() {
      const all = rows().map(function (row) { return conditionOf(row, spec, exponent); });
      /* A condition still waiting for its value is left out of the count, and said so. */
      const conditions = all.filter(function (c) {
        return !(c.value === "" || (Array.isArray(c.value) && !c.value.length));
      });
      const waiting = all.length - conditions.length;
      const note = waiting ? " " + plural(waiting, "condition without a value is", "conditions without a value are") + " not counted yet." : "";
      const match = (form.querySelector("input[name=match]:checked") || {}).value || "all";
      const mine = ++sequence;
      if (inFlight) {
        inFlight.abort();
      }
      if (!conditions.length) {
        live.classList.remove("is-error");
        live.textContent = all.length
          ? "Fill in a condition to see how many customers match."
          : "Add a condition to see how many customers match.";
        return;
      }
      inFlight = new AbortController();
      live.setAttribute("aria-busy", "true");
      try {
        const found = await CG.api(form.dataset.preview, {
          body: { match: match, conditions: conditions },
          signal: inFlight.signal,
        });
        if (mine !== sequence) {
          return;
        }
        live.classList.remove("is-error");
        const sample = found.sample.slice(0, 3).map(nameOf);
        live.textContent = plural(found.count, "customer matches", "customers match") +
          " right now" + (sample.length ? " (for example " + sample.join(", ") + ")." : ".") + note;
      } catch (error) {
        if (error.name === "AbortError" || mine !== sequence) {
          return;
        }
        live.classList.add("is-error");
        const problems = Object.entries(error.details || {}).map(function (entry) {
          const parts = entry[0].split(".");
          const where = parts[0] === "conditions" && parts.length > 1
            ? "condition " + (parseInt(parts[1], 10) + 1) : entry[0];
          return where + ": " + entry[1].join(" ");
        });
        live.textContent = "Cannot count yet. " + (problems.length ? problems.join("; ") : error.message);
      } finally {
        if (mine === sequence) {
          live.removeAttribute("aria-busy");
        }
      }
    }

    const later = CG.debounce(count, 350);
    form.addEventListener("change", function (event) {
      const row = event.target.closest("[data-row]");
      if (row && (event.target.dataset.input === "field" || event.target.dataset.input === "date_mode")) {
        shapeRow(row, spec);
      }
      later();
    });
    form.addEventListener("input", function (event) {
      if (event.target.closest("[data-row]")) {
        later();
      }
    });
    rows().forEach(function (row) { shapeRow(row, spec); });
    const focus = form.dataset.focus && document.getElementById(form.dataset.focus);
    if (focus) {
      focus.focus();
    }
    count();
  });
})();
