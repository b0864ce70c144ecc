/* Customer Groups admin: the searchable picker of products and categories (no build step,
   no CDN; needs admin.js first for CG.api). See /work/helpers/picker.md and the docstring
   of admin_ui/catalogue_names.py.

   Markup (progressive enhancement: without JavaScript the field stays a text field of ids):
     <input name="gift.product_id" data-picker="products">              one product
     <textarea name="scope.ids" data-picker="categories" data-picker-multiple>  ids, commas
     data-picker-kind-from="scope.type"   the kind follows a radio group whose value is
                                          "products" or "categories" (price rules' scope)
     data-picker-when="conditions.0.field=product_in_cart"   a picker only while that
                                          control holds that value, a plain field otherwise
   The field keeps the ids as the form posts them ("a, b, c"); a combobox (ARIA 1.2 pattern:
   role=combobox, listbox, aria-activedescendant) searches GET /api/products?q= or
   /api/categories?q= (title or id, ignoring case and accents) and shows each chosen one by
   its title, with a button to remove it. A typed id the catalogue does not know can be used
   as it is ("Use “…” as an id").

   Events: the field dispatches "cg-pick" (bubbles) with detail {id, title, item} when one
   is chosen, item being the API's product or category (null for a typed id): Try a cart
   fills kind, categories and price from it.

   JavaScript: CG.picker(field) enhances one field (returns its controller, or the existing
   one); CG.pickers(root) every [data-picker] inside root (done for the page on load). */
(function () {
  "use strict";

  const PATHS = { products: "/api/products", categories: "/api/categories" };
  const WHAT = { products: "product", categories: "category" };
  let counter = 0;

  function splitIds(text) {
    const seen = new Set();
    return (text || "").split(/[,\n]/).map(function (part) { return part.trim(); })
      .filter(function (id) {
        if (!id || seen.has(id)) { return false; }
        seen.add(id);
        return true;
      });
  }

  function element(tag, className, text) {
    const made = document.createElement(tag);
    if (className) { made.className = className; }
    if (text !== undefined) { made.textContent = text; }
    return made;
  }

  class Picker {
    constructor(field) {
      this.field = field;
      this.multiple = field.hasAttribute("data-picker-multiple");
      this.kind = field.dataset.picker in PATHS ? field.dataset.picker : "products";
      this.titles = new Map();  // id -> title ("" while unknown)
      this.items = new Map();  // id -> the API's item
      this.results = [];
      this.active = -1;
      this.request = null;
      this.build();
      this.followKind();
      this.followCondition();
    }

    /* On: the search box stands in for the field (it takes the field's id, so the label
       names it); off: the field is shown as it is and posts what is typed. */
    enable(on) {
      const field = this.field;
      this.on = on;
      this.box.hidden = !on;
      field.hidden = on;
      if (on) {
        field.setAttribute("aria-hidden", "true");
        field.tabIndex = -1;
        field.id = "cg-ids-" + this.id;
        this.input.id = this.id;
        this.loadTitles();
      } else {
        field.removeAttribute("aria-hidden");
        field.removeAttribute("tabindex");
        this.input.id = "cg-search-" + this.id;
        field.id = this.id;
        this.close();
      }
    }

    /* data-picker-when="NAME=VALUE": a picker only while the form's control NAME holds
       VALUE (a programme condition on "product_in_cart"); a plain field otherwise. */
    followCondition() {
      const rule = this.field.dataset.pickerWhen;
      const control = rule && this.field.form && this.field.form.elements[rule.split("=")[0]];
      if (!control) {
        this.enable(true);
        return;
      }
      const wanted = rule.slice(rule.indexOf("=") + 1);
      const sync = function () {
        if ((control.value === wanted) !== this.on) { this.enable(control.value === wanted); }
      }.bind(this);
      this.on = null;
      control.addEventListener("change", sync);
      sync();
    }

    build() {
      const field = this.field;
      const n = ++counter;
      const id = field.id || "cg-picker-" + n;
      this.box = element("div", "picker");
      this.box.dataset.pickerFor = field.name;
      this.chips = element("ul", "picker-chips");
      this.chips.setAttribute("aria-label", "Chosen");
      this.input = element("input", "picker-search");
      this.input.type = "text";
      this.input.autocomplete = "off";
      this.input.setAttribute("role", "combobox");
      this.input.setAttribute("aria-autocomplete", "list");
      this.input.setAttribute("aria-expanded", "false");
      this.list = element("ul", "picker-options");
      this.list.id = "cg-picker-list-" + n;
      this.list.setAttribute("role", "listbox");
      this.list.hidden = true;
      this.input.setAttribute("aria-controls", this.list.id);
      this.status = element("p", "visually-hidden");
      this.status.setAttribute("aria-live", "polite");
      // The field's label and hints now describe the search box; the field keeps the ids.
      this.id = id;
      ["aria-describedby", "aria-invalid", "required"].forEach(function (name) {
        if (field.hasAttribute(name)) {
          this.input.setAttribute(name, field.getAttribute(name));
        }
      }, this);
      field.after(this.box);
      this.box.append(this.chips, this.input, this.list, this.status);
      this.placeholder();

      this.input.addEventListener("input", function () {
        clearTimeout(this.timer);
        this.timer = setTimeout(this.search.bind(this), 200);
      }.bind(this));
      this.input.addEventListener("focus", function () {
        if (!this.input.value) { this.search(); }
      }.bind(this));
      this.input.addEventListener("keydown", this.key.bind(this));
      this.input.addEventListener("blur", function () {
        setTimeout(this.close.bind(this), 150);
      }.bind(this));
      this.list.addEventListener("mousedown", function (event) { event.preventDefault(); });
      this.list.addEventListener("click", function (event) {
        const option = event.target.closest("[role=option]");
        if (option) { this.choose(Number(option.dataset.index)); }
      }.bind(this));
    }

    placeholder() {
      const what = WHAT[this.kind];
      this.input.placeholder = this.multiple ? "Search " + this.kind + " to add…" : "Search a " + what + "…";
    }

    followKind() {
      const source = this.field.dataset.pickerKindFrom;
      if (!source || !this.field.form) { return; }
      const radios = this.field.form.querySelectorAll('input[type=radio][name="' + source + '"]');
      const update = function () {
        const checked = Array.from(radios).find(function (radio) { return radio.checked; });
        if (checked && checked.value in PATHS && checked.value !== this.kind) {
          this.kind = checked.value;
          this.titles.clear();
          this.items.clear();
          this.placeholder();
          this.loadTitles();
        }
      }.bind(this);
      radios.forEach(function (radio) { radio.addEventListener("change", update); });
      const checked = Array.from(radios).find(function (radio) { return radio.checked; });
      if (checked && checked.value in PATHS) { this.kind = checked.value; this.placeholder(); }
    }

    ids() {
      return splitIds(this.field.value);
    }

    setIds(ids) {
      this.field.value = ids.join(", ");
      this.field.dispatchEvent(new Event("change", { bubbles: true }));
      this.render();
    }

    async loadTitles() {
      const ids = this.ids();
      this.render();
      if (!ids.length) { return; }
      try {
        const page = await CG.api(PATHS[this.kind] + "?per_page=1000&ids=" + encodeURIComponent(ids.join(",")));
        page.items.forEach(function (item) {
          this.titles.set(item.id, item.title);
          this.items.set(item.id, item);
        }, this);
      } catch (error) {
        /* The ids stay shown as they are. */
      }
      this.render();
    }

    render() {
      this.chips.replaceChildren();
      this.ids().forEach(function (id) {
        const chip = element("li", "picker-chip");
        chip.dataset.id = id;
        const title = this.titles.get(id);
        const name = element("span", "picker-title", title || id);
        chip.append(name);
        if (title) {
          chip.append(element("code", "picker-id", id));
        } else {
          chip.title = "Not in the catalogue: shown by its id";
          chip.classList.add("picker-unknown");
        }
        const remove = element("button", "picker-remove", "×");
        remove.type = "button";
        remove.setAttribute("aria-label", "Remove " + (title || id));
        remove.addEventListener("click", function () {
          this.setIds(this.ids().filter(function (other) { return other !== id; }));
          this.status.textContent = "Removed " + (title || id) + ".";
          this.input.focus();
        }.bind(this));
        chip.append(remove);
        this.chips.append(chip);
      }, this);
      this.chips.hidden = this.chips.children.length === 0;
    }

    async search() {
      clearTimeout(this.timer);
      const term = this.input.value.trim();
      if (this.request) { this.request.abort(); }
      this.request = new AbortController();
      let page;
      try {
        page = await CG.api(PATHS[this.kind] + "?per_page=20&q=" + encodeURIComponent(term), { signal: this.request.signal });
      } catch (error) {
        if (error.name === "AbortError") { return; }
        page = { items: [], total: 0 };
      }
      const chosen = new Set(this.ids());
      this.results = page.items.filter(function (item) { return !chosen.has(item.id); })
        .map(function (item) { return { id: item.id, title: item.title, item: item }; });
      const exact = page.items.some(function (item) { return item.id === term; });
      if (term && !exact && !chosen.has(term) && term.length <= 255 && !/[,\n]/.test(term)) {
        this.results.push({ id: term, title: null, item: null });
      }
      this.show(page.total);
    }

    show(total) {
      this.list.replaceChildren();
      this.active = -1;
      this.results.forEach(function (result, index) {
        const option = element("li", "picker-option");
        option.id = this.list.id + "-" + index;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.dataset.index = String(index);
        option.dataset.id = result.id;
        if (result.title === null) {
          option.textContent = "Use “" + result.id + "” as an id";
          option.classList.add("picker-typed");
        } else {
          option.append(element("span", "picker-title", result.title));
          const details = [result.id];
          if (result.item && result.item.kind === "service") { details.push("service"); }
          if (result.item && result.item.active === false) { details.push("inactive"); }
          option.append(element("span", "picker-id", details.join(" · ")));
        }
        this.list.append(option);
      }, this);
      if (!this.results.length) {
        const none = element("li", "picker-none", "No " + this.kind + " found.");
        this.list.append(none);
      }
      this.list.hidden = false;
      this.input.setAttribute("aria-expanded", "true");
      const found = this.results.filter(function (r) { return r.title !== null; }).length;
      const noun = (total || found) === 1 ? WHAT[this.kind] : this.kind;
      this.status.textContent = found + (total > found ? " of " + total : "") + " " + noun + " found.";
    }

    close() {
      this.list.hidden = true;
      this.input.setAttribute("aria-expanded", "false");
      this.input.removeAttribute("aria-activedescendant");
      this.active = -1;
    }

    highlight(index) {
      const options = this.list.querySelectorAll("[role=option]");
      if (!options.length) { return; }
      this.active = (index + options.length) % options.length;
      options.forEach(function (option, n) {
        option.setAttribute("aria-selected", n === this.active ? "true" : "false");
      }, this);
      const current = options[this.active];
      this.input.setAttribute("aria-activedescendant", current.id);
      current.scrollIntoView({ block: "nearest" });
    }

    key(event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (this.list.hidden) { this.search(); return; }
        this.highlight(this.active + (event.key === "ArrowDown" ? 1 : -1));
      } else if (event.key === "Enter") {
        /* Enter in the search box never submits the form: it takes the highlighted option,
           else the first one (once the search for what was typed has answered). */
        if (!this.input.value.trim() && this.list.hidden) { return; }
        event.preventDefault();
        if (!this.list.hidden && this.active >= 0) {
          this.choose(this.active);
        } else if (this.input.value.trim()) {
          this.search().then(function () { this.choose(0); }.bind(this));
        }
      } else if (event.key === "Escape" && !this.list.hidden) {
        event.preventDefault();
        this.close();
      }
    }

    choose(index) {
      const result = this.results[index];
      if (!result) { return; }
      clearTimeout(this.timer);
      if (this.request) { this.request.abort(); }
      if (result.title !== null) {
        this.titles.set(result.id, result.title);
        this.items.set(result.id, result.item);
      }
      const ids = this.multiple ? this.ids().concat([result.id]) : [result.id];
      this.setIds(ids);
      this.input.value = "";
      this.close();
      this.status.textContent = "Chose " + (result.title || result.id) + ".";
      this.field.dispatchEvent(new CustomEvent("cg-pick", {
        bubbles: true,
        detail: { id: result.id, title: result.title, item: result.item },
      }));
    }
  }

  function picker(field) {
    if (!field.cgPicker) {
      field.cgPicker = new Picker(field);
    }
    return field.cgPicker;
  }

  function pickers(root) {
    (root || document).querySelectorAll("[data-picker]").forEach(picker);
  }

  document.addEventListener("DOMContentLoaded", function () { pickers(document); });

  window.CG = Object.assign(window.CG || {}, { picker: picker, pickers: pickers });
})();
