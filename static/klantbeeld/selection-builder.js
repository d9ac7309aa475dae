/* The selection builder: edits the JSON definition in #id_definition as AND/OR groups of
   conditions, and asks the server for a live count and preview while you edit. */
(function () {
  "use strict";
  const kinds = JSON.parse(document.getElementById("selection-kinds").textContent);
  const texts = JSON.parse(document.getElementById("selection-texts").textContent);
  const field = document.getElementById("id_definition");
  const root = document.getElementById("selection-builder");
  const countBox = document.getElementById("selection-count");
  const previewBox = document.getElementById("selection-preview");
  const byKey = Object.fromEntries(kinds.map((k) => [k.key, k]));
  let definition;
  try { definition = JSON.parse(field.value || "{}"); } catch (e) { definition = {}; }
  if (!definition.children) definition = { op: "and", negate: false, children: [] };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "on") Object.entries(v).forEach(([e, f]) => node.addEventListener(e, f));
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    });
    children.flat().forEach((c) => node.append(c instanceof Node ? c : document.createTextNode(c)));
    return node;
  }

  function newCondition() {
    const kind = kinds[0];
    const params = {};
    kind.params.forEach((p) => { params[p.name] = p.default ?? (p.choices ? p.choices[0][0] : ""); });
    return { kind: kind.key, negate: false, params };
  }

  function paramInput(param, params) {
    const value = params[param.name] ?? "";
    const change = (e) => { params[param.name] = e.target.type === "checkbox" ? e.target.checked : e.target.value; changed(); };
    let input;
    if (param.choices) {
      input = el("select", { on: { change } }, param.choices.map(([v, l]) => el("option", { value: v, selected: String(v) === String(value) }, l)));
    } else if (param.type === "bool") {
      input = el("input", { type: "checkbox", checked: !!value, on: { change } });
    } else {
      const type = { number: "number", days: "number", date: "date" }[param.type] || "text";
      input = el("input", { type, value, min: param.type === "days" ? "0" : null, on: { input: change } });
    }
    return el("label", { class: "selection-param" }, param.label + " ", input);
  }

  function renderCondition(node, parent, index) {
    const kind = byKey[node.kind] || kinds[0];
    const kindSelect = el("select", {
      "aria-label": texts.kind,
      on: { change: (e) => { const fresh = newCondition(); fresh.kind = e.target.value;
        byKey[fresh.kind].params.forEach((p) => { fresh.params[p.name] = p.default ?? (p.choices ? p.choices[0][0] : ""); });
        fresh.params = Object.fromEntries(byKey[fresh.kind].params.map((p) => [p.name, fresh.params[p.name]]));
        parent.children[index] = fresh; render(); changed(); } },
    }, groupedOptions(node.kind));
    return el("div", { class: "selection-condition" },
      el("label", { class: "selection-not" }, el("input", { type: "checkbox", checked: !!node.negate, on: { change: (e) => { node.negate = e.target.checked; changed(); } } }), " " + texts.not),
      kindSelect,
      kind.params.map((p) => paramInput(p, node.params)),
      el("button", { type: "button", class: "button selection-remove", on: { click: () => { parent.children.splice(index, 1); render(); changed(); } } }, texts.remove));
  }

  function groupedOptions(selected) {
    const groups = {};
    kinds.forEach((k) => { (groups[k.group] = groups[k.group] || []).push(k); });
    return Object.entries(groups).map(([g, ks]) => el("optgroup", { label: g }, ks.map((k) => el("option", { value: k.key, selected: k.key === selected }, k.label))));
  }

  function renderGroup(group, parent, index) {
    const box = el("fieldset", { class: "selection-group" },
      el("legend", {},
        el("label", {}, el("input", { type: "checkbox", checked: !!group.negate, on: { change: (e) => { group.negate = e.target.checked; changed(); } } }), " " + texts.not + " "),
        el("select", { "aria-label": texts.match, on: { change: (e) => { group.op = e.target.value; changed(); } } },
          el("option", { value: "and", selected: group.op !== "or" }, texts.all),
          el("option", { value: "or", selected: group.op === "or" }, texts.any))),
      group.children.map((child, i) => child.children ? renderGroup(child, group, i) : renderCondition(child, group, i)),
      el("div", { class: "selection-actions" },
        el("button", { type: "button", class: "button", on: { click: () => { group.children.push(newCondition()); render(); changed(); } } }, "+ " + texts.condition),
        el("button", { type: "button", class: "button", on: { click: () => { group.children.push({ op: "and", negate: false, children: [newCondition()] }); render(); changed(); } } }, "+ " + texts.group),
        parent ? el("button", { type: "button", class: "button selection-remove", on: { click: () => { parent.children.splice(index, 1); render(); changed(); } } }, texts.remove_group) : ""));
    return box;
  }

  function render() { root.replaceChildren(renderGroup(definition, null, 0)); }

  let timer = null;
  function changed() {
    field.value = JSON.stringify(definition);
    clearTimeout(timer);
    timer = setTimeout(preview, 400);
  }

  async function preview() {
    countBox.textContent = texts.counting;
    const token = document.querySelector("[name=csrfmiddlewaretoken]").value;
    try {
      const response = await fetch(root.dataset.previewUrl, {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": token },
        body: JSON.stringify({ definition }), credentials: "same-origin",
      });
      const data = await response.json();
      if (data.error) { countBox.textContent = data.error; previewBox.replaceChildren(); return; }
      countBox.textContent = data.count_text;
      previewBox.replaceChildren(...data.preview.map((p) => el("li", {}, el("a", { href: p.url }, p.user_id), " " + p.email + (p.name ? " — " + p.name : ""))));
    } catch (e) { countBox.textContent = texts.failed; }
  }

  field.closest(".form-row").style.display = "none";
  render();
  changed();
})();
