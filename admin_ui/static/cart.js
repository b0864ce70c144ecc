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
    const answer = document.getElementById("h-answer");
    if (answer && !document.querySelector(".error-summary")) {
      answer.focus();
    }
  });
})();
