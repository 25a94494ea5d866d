// 属性: a small properties panel beside the modeler for the product's extension properties.
// A lane names its role; a user task has <spiffworkflow:properties> stage, formJsonSchemaFilename,
// unit and dueHours; a service task has <spiffworkflow:serviceTaskOperator id="handler"
// resultVariable="…"> with one <spiffworkflow:parameter id type="any" value> per handler parameter.
// The pick-lists come from the version's locality model, forms and handlers (/admin/modeling/…/picklists).
(function () {
  "use strict";
  var section = document.querySelector("[data-testid=modeler]");
  var panel = document.querySelector("[data-testid=properties-panel]");
  if (!section || !panel) return;
  var L = JSON.parse(panel.dataset.labels);
  var bodyEl = panel.querySelector("[data-testid=properties-body]");
  var lists = null;
  var current = null;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function byType(values, type) {
    return (values || []).filter(function (v) { return v.$instanceOf && v.$instanceOf(type); })[0];
  }

  // --- reading and writing the extension elements, through the command stack (undoable, saved) ---

  function services() {
    var m = section.modeler;
    return { modeling: m.get("modeling"), moddle: m.get("moddle") };
  }

  function created(type, props, parent) {
    var made = services().moddle.create(type, props);
    made.$parent = parent;
    return made;
  }

  function extensionElements(element) {
    var bo = element.businessObject;
    var ext = bo.get("extensionElements");
    if (!ext) {
      ext = created("bpmn:ExtensionElements", { values: [] }, bo);
      services().modeling.updateModdleProperties(element, bo, { extensionElements: ext });
    }
    return ext;
  }

  function extension(element, type, props) {
    var ext = extensionElements(element);
    var found = byType(ext.get("values"), type);
    if (!found) {
      found = created(type, props, ext);
      services().modeling.updateModdleProperties(element, ext, { values: ext.get("values").concat([found]) });
    }
    return found;
  }

  function spiffProperty(element, name) {
    var ext = element.businessObject.get("extensionElements");
    var props = ext && byType(ext.get("values"), "spiffworkflow:Properties");
    var prop = props && props.get("properties").filter(function (p) { return p.name === name; })[0];
    return prop ? prop.value || "" : "";
  }

  function setSpiffProperty(element, name, value) {
    var modeling = services().modeling;
    var props = extension(element, "spiffworkflow:Properties", { properties: [] });
    var list = props.get("properties");
    var prop = list.filter(function (p) { return p.name === name; })[0];
    if (!value) {
      if (prop) modeling.updateModdleProperties(element, props, { properties: list.filter(function (p) { return p !== prop; }) });
    } else if (prop) {
      modeling.updateModdleProperties(element, prop, { value: value });
    } else {
      var made = created("spiffworkflow:Property", { name: name, value: value }, props);
      modeling.updateModdleProperties(element, props, { properties: list.concat([made]) });
    }
  }

  function operatorOf(element) {
    var ext = element.businessObject.get("extensionElements");
    return ext && byType(ext.get("values"), "spiffworkflow:ServiceTaskOperator");
  }

  function parameterValues(operator) {
    var values = {};
    var params = operator && operator.get("parameters");
    (params ? params.get("parameters") : []).forEach(function (p) { values[p.id] = p.value || ""; });
    return values;
  }

  function setHandler(element, name) {
    var modeling = services().modeling;
    var operator = extension(element, "spiffworkflow:ServiceTaskOperator", { id: name });
    var old = parameterValues(operator);
    var handler = lists.handlers.filter(function (h) { return h.name === name; })[0];
    var params = created("spiffworkflow:Parameters", { parameters: [] }, operator);
    params.parameters = (handler ? handler.parameters : []).map(function (p) {
      return created("spiffworkflow:Parameter", { id: p.name, type: "any", value: old[p.name] || "" }, params);
    });
    modeling.updateModdleProperties(element, operator, { id: name, parameters: params });
  }

  function setParameter(element, name, value) {
    var modeling = services().modeling;
    var operator = extension(element, "spiffworkflow:ServiceTaskOperator", { id: "" });
    var params = operator.get("parameters");
    if (!params) {
      params = created("spiffworkflow:Parameters", { parameters: [] }, operator);
      modeling.updateModdleProperties(element, operator, { parameters: params });
    }
    var found = params.get("parameters").filter(function (p) { return p.id === name; })[0];
    if (found) {
      modeling.updateModdleProperties(element, found, { value: value });
    } else {
      var made = created("spiffworkflow:Parameter", { id: name, type: "any", value: value }, params);
      modeling.updateModdleProperties(element, params, { parameters: params.get("parameters").concat([made]) });
    }
  }

  // --- the controls ---

  function field(label, control, key) {
    var id = "prop-" + key;
    control.id = id;
    control.dataset.prop = key;
    var wrap = el("div", { "class": "prop" });
    wrap.appendChild(el("label", { "for": id }, label));
    wrap.appendChild(control);
    return wrap;
  }

  function select(options, value) {
    var node = el("select");
    node.appendChild(el("option", { value: "" }, L.choose));
    var known = false;
    options.forEach(function (o) {
      var opt = el("option", { value: o.code }, o.label && o.label !== o.code ? o.code + " · " + o.label : o.code);
      if (o.code === value) { opt.selected = true; known = true; }
      node.appendChild(opt);
    });
    if (value && !known) {
      var odd = el("option", { value: value }, value + " " + L.unknown);
      odd.selected = true;
      node.appendChild(odd);
    }
    return node;
  }

  function combo(options, value, key) {
    var input = el("input", { list: "list-" + key, autocomplete: "off", placeholder: L.expression });
    input.value = value;
    var datalist = el("datalist", { id: "list-" + key });
    options.forEach(function (o) { datalist.appendChild(el("option", { value: o.code }, o.label || "")); });
    var wrap = el("span");
    wrap.appendChild(input);
    wrap.appendChild(datalist);
    return { input: input, wrap: wrap };
  }

  function onChange(control, write) {
    control.addEventListener("change", function () { write(control.value.trim()); });
  }

  function lanePanel(element) {
    var role = select(lists.roles, element.businessObject.name || "");
    onChange(role, function (v) { services().modeling.updateProperties(element, { name: v }); });
    return [field(L.role, role, "role")];
  }

  function userTaskPanel(element) {
    var out = [];
    var stage = select(lists.stages, spiffProperty(element, "stage"));
    onChange(stage, function (v) { setSpiffProperty(element, "stage", v); });
    out.push(field(L.stage, stage, "stage"));
    var form = select(lists.forms.map(function (f) { return { code: f }; }), spiffProperty(element, "formJsonSchemaFilename"));
    onChange(form, function (v) { setSpiffProperty(element, "formJsonSchemaFilename", v); });
    out.push(field(L.form, form, "formJsonSchemaFilename"));
    [["unit", L.unit, lists.units], ["dueHours", L.dueHours, lists.due_hours]].forEach(function (spec) {
      var c = combo(spec[2], spiffProperty(element, spec[0]), spec[0]);
      onChange(c.input, function (v) { setSpiffProperty(element, spec[0], v); });
      out.push(field(spec[1], c.input, spec[0]));
      out[out.length - 1].appendChild(c.wrap.lastChild);
    });
    return out;
  }

  function serviceTaskPanel(element) {
    var operator = operatorOf(element);
    var name = operator ? operator.id || "" : "";
    var handlers = lists.handlers.map(function (h) { return { code: h.name, label: h.doc }; });
    var pick = select(handlers, name);
    onChange(pick, function (v) { if (v) { setHandler(element, v); render(element); } });
    var out = [field(L.handler, pick, "handler")];
    var result = el("input");
    result.value = operator ? operator.resultVariable || "" : "";
    onChange(result, function (v) {
      var op = extension(element, "spiffworkflow:ServiceTaskOperator", { id: name });
      services().modeling.updateModdleProperties(element, op, { resultVariable: v || undefined });
    });
    out.push(field(L.resultVariable, result, "resultVariable"));
    var handler = lists.handlers.filter(function (h) { return h.name === name; })[0];
    var values = parameterValues(operator);
    if (handler && handler.parameters.length) out.push(el("h3", {}, L.parameters));
    (handler ? handler.parameters : []).forEach(function (p) {
      var input = el("input", { placeholder: L.expression });
      input.value = values[p.name] || "";
      onChange(input, function (v) { setParameter(element, p.name, v); });
      out.push(field(p.name + (p.required ? " *" : ""), input, "param-" + p.name));
    });
    return out;
  }

  var PANELS = { "bpmn:Lane": ["lane", lanePanel], "bpmn:UserTask": ["userTask", userTaskPanel],
                 "bpmn:ServiceTask": ["serviceTask", serviceTaskPanel] };

  function render(element) {
    current = element;
    bodyEl.textContent = "";
    var spec = element && PANELS[element.type];
    panel.dataset.element = element ? element.id : "";
    if (!spec || !lists) {
      bodyEl.appendChild(el("p", { "class": "muted" }, lists || !spec ? L.none : L.loading));
      return;
    }
    bodyEl.appendChild(el("p", {}, L[spec[0]] + " · " + element.id));
    spec[1](element).forEach(function (node) { bodyEl.appendChild(node); });
  }

  function start() {
    section.modeler.on("selection.changed", function (e) {
      render(e.newSelection.length === 1 ? e.newSelection[0] : null);
    });
    fetch(panel.dataset.picklistsUrl, { credentials: "same-origin" })
      .then(function (resp) { if (!resp.ok) throw new Error(resp.status); return resp.json(); })
      .then(function (data) { lists = data; panel.dataset.state = "ready"; render(current); })
      .catch(function (err) { bodyEl.textContent = L.loadFailed + ": " + err.message; panel.dataset.state = "error"; });
  }

  if (section.dataset.state === "ready") start();
  else section.addEventListener("modeler:ready", start);
})();
