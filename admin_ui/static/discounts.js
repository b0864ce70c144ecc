/* Discounts and codes pages.
   - "Generate code" next to a shared code fills in a random code (crypto.getRandomValues).
   - In-store is for product codes only: unticked and disabled while "Services" is chosen.
   - Generating codes: the form is sent to POST /api/discounts/{id}/codes/generate; a 201
     is done, a 202 carries a job followed through GET /api/jobs/{id} in the <progress>
     bar (with text: "1,200 of 20,000 codes"), until it succeeds or fails. A 422 shows its
     messages next to the fields. Without JavaScript the form posts to the admin page.
   - The answer's (or the finished job's) "warnings" (codes easy to guess) are listed in
     the generate panel.
   - Once codes are made, the counts beside the status filters are read again from the
     API, and "Show the new codes" lists the batch (?after= the newest code before it). */
(function () {
  "use strict";

  const POLL_MS = 400;

  function suggestCode(button) {
    const target = document.getElementById(button.dataset.suggestCode);
    const charset = button.dataset.charset;
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    // 256 % 31 != 0 leaves a tiny bias; a suggested shared code is not a secret.
    target.value = Array.from(bytes, function (b) { return charset[b % charset.length]; }).join("");
    target.focus();
  }

  function inStoreForServices(form) {
    const inStore = form.querySelector('input[name="channels"][value="in_store"]');
    if (!inStore) {
      return;
    }
    const services = form.querySelector('input[name="applies_to"][value="services"]');
    const update = function () {
      if (services.checked) {
        inStore.checked = false;
      }
      inStore.disabled = services.checked;
    };
    form.addEventListener("change", update);
    update();
  }

  function fieldErrors(form, details) {
    form.querySelectorAll(".field-errors.js-errors").forEach(function (list) { list.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (input) {
      input.removeAttribute("aria-invalid");
    });
    let first = null;
    Object.keys(details).forEach(function (name) {
      const input = form.querySelector('[name="' + CSS.escape(name) + '"]');
      const list = document.createElement("ul");
      list.className = "field-errors js-errors";
      list.id = "f-" + name + "-errors-js";
      details[name].forEach(function (message) {
        const item = document.createElement("li");
        item.textContent = message;
        list.append(item);
      });
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", list.id);
        input.closest(".field").append(list);
        first = first || input;
      } else {
        form.prepend(list);
      }
    });
    if (first) {
      first.focus();
    }
  }

  function number(value) {
    return Number(value).toLocaleString("en");
  }

  function showWarnings(warnings) {
    const panel = document.querySelector("[data-generate-warnings]");
    if (!panel) {
      return;
    }
    const list = panel.querySelector("ul");
    list.replaceChildren();
    (warnings || []).forEach(function (warning) {
      const item = document.createElement("li");
      item.textContent = warning;
      list.append(item);
    });
    panel.hidden = !list.children.length;
  }

  function showProgress(box, job) {
    const bar = box.querySelector("progress");
    const text = box.querySelector("[role=status]");
    box.hidden = false;
    const refresh = box.querySelector(".refresh-link");
    if (refresh) {
      refresh.remove();
    }
    bar.max = Math.max(job.total || 1, 1);
    bar.value = job.status === "succeeded" ? bar.max : Math.min(job.progress || 0, bar.max);
    if (job.status === "succeeded") {
      text.textContent = "Done: " + number((job.result || {}).generated || job.total) + " codes generated.";
      showWarnings((job.result || {}).warnings);
      addReload(box);
    } else if (job.status === "failed") {
      text.textContent = "Failed: " + (job.error || "the job stopped.");
    } else {
      const percent = Math.floor((100 * (job.progress || 0)) / bar.max);
      text.textContent = number(job.progress || 0) + " of " + number(job.total) + " codes (" + percent + " %).";
    }
    box.dataset.status = job.status;
  }

  function addReload(box) {
    refreshCounts();
    if (box.querySelector(".show-codes")) {
      return;
    }
    // The batch just made: the codes added after the newest one this page was shown with.
    const list = document.querySelector("[data-newest]");
    const link = document.createElement("a");
    link.className = "show-codes";
    const url = new URL(window.location.href);
    ["job", "flash", "page", "status", "q"].forEach(function (name) { url.searchParams.delete(name); });
    url.searchParams.set("s", CG.meta("cg-session"));
    if (list) {
      url.searchParams.set("after", list.dataset.newest);
    }
    link.href = url.toString();
    link.textContent = "Show the new codes";
    box.append(link);
  }
  // The counts beside the status filters, read again from the API after codes were made.
  async function refreshCounts() {
    const list = document.querySelector("[data-newest]");
    if (!list) {
      return;
    }
    const base = "/api/discounts/" + list.dataset.discountId + "/codes?per_page=1";
    const spans = Array.from(list.querySelectorAll("[data-count-status]"));
    try {
      const totals = await Promise.all(spans.map(function (span) {
        return CG.api(base + "&status=" + encodeURIComponent(span.dataset.countStatus));
      }));
      let all = 0;
      totals.forEach(function (page, index) {
        spans[index].textContent = spans[index].dataset.label + " (" + number(page.total) + ")";
        all += page.total;
      });
      const allLink = list.querySelector("[data-count-all]");
      if (allLink) {
        allLink.textContent = allLink.dataset.label + " (" + number(all) + ")";
      }
    } catch (error) {
      // The counts stay as they were; the link to the new codes still works.
    }
  }

  async function follow(box, jobId) {
    for (;;) {
      let job;
      try {
        job = await CG.api("/api/jobs/" + jobId);
      } catch (error) {
        box.querySelector("[role=status]").textContent = "Could not follow the job: " + error.message;
        return;
      }
      showProgress(box, job);
      if (job.status === "succeeded" || job.status === "failed") {
        return;
      }
      await new Promise(function (resolve) { setTimeout(resolve, POLL_MS); });
    }
  }

  function generateWithApi(form) {
    const box = document.querySelector("[data-job-progress]");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const data = new FormData(form);
      const body = {
        count: Number(data.get("count")),
        length: Number(data.get("length") || 8),
        prefix: (data.get("prefix") || "").trim(),
        suffix: (data.get("suffix") || "").trim(),
        charset: (data.get("charset") || "").trim() || null,
      };
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      fieldErrors(form, {});
      showWarnings([]);
      try {
        const answer = await CG.api("/api/discounts/" + form.dataset.discountId + "/codes/generate", { body: body });
        if (answer.generated !== undefined) {
          showProgress(box, { status: "succeeded", progress: answer.generated, total: answer.generated, result: answer });
        } else {
          showWarnings(answer.warnings);
          showProgress(box, answer);
          await follow(box, answer.id);
        }
      } catch (error) {
        if (error.details && Object.keys(error.details).length) {
          fieldErrors(form, error.details);
        } else {
          fieldErrors(form, { _schema: [error.message] });
        }
      } finally {
        button.disabled = false;
      }
    });
    if (box && box.dataset.jobId && !["succeeded", "failed"].includes(box.dataset.status || "")) {
      follow(box, box.dataset.jobId);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-suggest-code]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { suggestCode(button); });
    });
    document.querySelectorAll("form.discount-form").forEach(inStoreForServices);
    document.querySelectorAll("form.generate-form").forEach(generateWithApi);
  });
})();
