/* Forms of the rules, discounts, audiences and Try-a-cart pages: show the parts that fit
   the current choice, and put the focus back where a row was added or removed.
     <div data-show-when="scope.type:categories|products">  shown while the control named
       scope.type (radio, select or checkbox) has one of those values ("on" for a ticked
       checkbox); hidden parts stay in the form but their inputs are ignored by the server.
     <form data-focus="f-tiers-2">  after "Add a tier": focus the first control of that row. */
(function () {
  "use strict";

  function valueOf(form, name) {
    const controls = form.querySelectorAll('[name="' + CSS.escape(name) + '"]');
    const values = [];
    controls.forEach(function (control) {
      if (control.type === "radio" || control.type === "checkbox") {
        if (control.checked) {
          values.push(control.type === "checkbox" ? "on" : control.value);
        }
      } else {
        values.push(control.value);
      }
    });
    return values;
  }

  function refresh(form) {
    form.querySelectorAll("[data-show-when]").forEach(function (part) {
      const rule = part.dataset.showWhen;
      const split = rule.indexOf(":");
      const name = rule.slice(0, split);
      const wanted = rule.slice(split + 1).split("|");
      const values = valueOf(form, name);
      part.hidden = !values.some(function (value) { return wanted.includes(value); });
    });
  }

  function focusRow(form) {
    const id = form.dataset.focus;
    if (!id) {
      return;
    }
    const target = document.getElementById(id) || document.querySelector('[id^="' + id + '-"]');
    if (!target) {
      return;
    }
    const control = target.matches("input, select, textarea, button")
      ? target
      : target.querySelector("input, select, textarea, button");
    (control || target).focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form").forEach(function (form) {
      if (!form.querySelector("[data-show-when]") && !form.dataset.focus) {
        return;
      }
      refresh(form);
      form.addEventListener("change", function () { refresh(form); });
      if (!document.querySelector(".error-summary")) {
        focusRow(form);
      }
    });
  });
})();
