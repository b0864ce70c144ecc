/* Try a cart: Enter in the customer search finds customers; Enter anywhere else prices the
   cart (the form's default button). The priced answer gets the focus when it arrives, so a
   screen reader starts reading there. */
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    const search = document.querySelector('.cart-form input[name="customer_q"]');
    const find = document.querySelector('.cart-form button[name="_action"][value="find"]');
    if (search && find) {
      search.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {
          event.preventDefault();
          find.click();
        }
      });
    }
    /* Picking a product fills its line's kind, categories and unit price from the
       catalogue (picker.js sends "cg-pick"); all stay editable. */
    document.addEventListener("cg-pick", function (event) {
      const field = event.target;
      const item = event.detail && event.detail.item;
      if (!item || !field.matches("[data-cart-line]")) { return; }
      const path = "lines." + field.dataset.cartLine + ".";
      const form = field.form;
      const kind = form.elements[path + "kind"];
      const categories = form.elements[path + "category_ids"];
      const price = form.elements[path + "unit_price"];
      if (kind) { kind.value = item.kind; }
      if (categories) {
        categories.value = (item.category_ids || []).join(", ");
        if (categories.cgPicker) { categories.cgPicker.loadTitles(); }
      }
      if (price && typeof item.price === "number") {
        /* Minor units as text (no float): 1999 with 2 digits is "19.99". */
        const digits = Number(price.dataset.minorDigits || 2);
        const text = String(item.price).padStart(digits + 1, "0");
        price.value = digits ? text.slice(0, -digits) + "." + text.slice(-digits) : text;
      }
    });
    const answer = document.getElementById("h-answer");
    if (answer && !document.querySelector(".error-summary")) {
      answer.focus();
    }
  });
})();
