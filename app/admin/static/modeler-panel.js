// 属性: a small properties panel beside the modeler for the product's extension properties.
// A lane names its role; a user task has <spiffworkflow:properties> stage, formJsonSchemaFilename,
// unit and dueHours; a service task has <spiffworkflow:serviceTaskOperator id="handler"
// resultVariable="…"> with one <spiffworkflow:parameter id type="any" value> per handler parameter.
// A gateway has its default flow and a condition per other outgoing flow (a flow selected alone, its
// condition); a timer event has its kind (timeDate, timeDuration, timeCycle) and expression.
// The pick-lists come from the version's locality model, forms and handlers (/admin/modeling/…/picklists):
// conditions on the forms' choice fields; for timers, the moments of the handlers' results that this
// diagram's service tasks store (resultVariable['due']).
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

  // --- gateways' conditions and timers ---

  function setCondition(flow, value) {
    var expr = value ? services().moddle.create("bpmn:FormalExpression", { body: value }) : undefined;
    services().modeling.updateProperties(flow, { conditionExpression: expr });
  }

  function conditionField(flow) {
    var expr = flow.businessObject.conditionExpression;
    var c = combo(lists.conditions, expr ? expr.body || "" : "", "condition-" + flow.id);
    onChange(c.input, function (v) { setCondition(flow, v); });
    var label = flow.id + (flow.businessObject.name ? " · " + flow.businessObject.name : "");
    var node = field(label, c.input, "condition-" + flow.id);
    node.appendChild(c.wrap.lastChild);
    return node;
  }

  function isChoice(element) {
    return element.type === "bpmn:ExclusiveGateway" || element.type === "bpmn:InclusiveGateway";
  }

  function gatewayPanel(element) {
    var flows = element.outgoing.filter(function (c) { return c.type === "bpmn:SequenceFlow"; });
    var fallback = element.businessObject.default;
    var options = flows.map(function (f) { return { code: f.id, label: f.businessObject.name || "" }; });
    var pick = select(options, fallback ? fallback.id : "");
    onChange(pick, function (v) {
      var chosen = flows.filter(function (f) { return f.id === v; })[0];
      if (chosen) setCondition(chosen, "");  // the default flow is taken when no condition holds
      services().modeling.updateProperties(element, { "default": chosen ? chosen.businessObject : undefined });
      render(element);
    });
    var out = [field(L.defaultFlow, pick, "default")];
    if (flows.length) out.push(el("h3", {}, L.conditions));
    flows.forEach(function (f) {
      if (fallback && fallback.id === f.id) out.push(el("p", { "class": "muted" }, f.id + " · " + L.isDefault));
      else out.push(conditionField(f));
    });
    return out;
  }

  function flowPanel(element) {
    var source = element.source;
    if (source && source.businessObject.default === element.businessObject) {
      return [el("p", { "class": "muted" }, L.isDefault)];
    }
    return [conditionField(element)];
  }

  var TIMER_KINDS = ["timeDate", "timeDuration", "timeCycle"];

  function timerOf(element) {
    return byType(element.businessObject.eventDefinitions, "bpmn:TimerEventDefinition");
  }

  function timerHints() {
    var hints = [];
    section.modeler.get("elementRegistry").filter(function (e) { return e.type === "bpmn:ServiceTask"; })
      .forEach(function (task) {
        var operator = operatorOf(task);
        var handler = operator && lists.handlers.filter(function (h) { return h.name === operator.id; })[0];
        if (!handler || !operator.resultVariable) return;
        (handler.times || []).forEach(function (key) {
          var code = operator.resultVariable + "['" + key + "']";
          if (!hints.some(function (h) { return h.code === code; })) hints.push({ code: code, label: handler.name + " · " + key });
        });
      });
    return hints.concat(L.durations.map(function (d) { return { code: d[0], label: d[1] }; }));
  }

  function setTimer(element, kind, value) {
    var props = {};
    TIMER_KINDS.forEach(function (k) { props[k] = undefined; });
    if (value) props[kind] = services().moddle.create("bpmn:FormalExpression", { body: value });
    services().modeling.updateModdleProperties(element, timerOf(element), props);
  }

  function timerPanel(element) {
    var timer = timerOf(element);
    var kind = TIMER_KINDS.filter(function (k) { return timer.get(k); })[0] || "timeDate";
    var body = timer.get(kind) ? timer.get(kind).body || "" : "";
    var kinds = select(TIMER_KINDS.map(function (k) { return { code: k, label: L[k] }; }), kind);
    var c = combo(timerHints(), body, "timer");
    onChange(kinds, function (v) { setTimer(element, v || "timeDate", c.input.value.trim()); });
    onChange(c.input, function (v) { setTimer(element, kinds.value || "timeDate", v); });
    var expression = field(L.timer, c.input, "timer");
    expression.appendChild(c.wrap.lastChild);
    return [field(L.timerKind, kinds, "timerKind"), expression];
  }

  var PANELS = { "bpmn:Lane": ["lane", lanePanel], "bpmn:UserTask": ["userTask", userTaskPanel],
                 "bpmn:ServiceTask": ["serviceTask", serviceTaskPanel] };

  function panelFor(element) {
    if (!element) return null;
    if (element.businessObject.eventDefinitions && timerOf(element)) return ["timerEvent", timerPanel];
    if (isChoice(element)) return ["gateway", gatewayPanel];
    if (element.type === "bpmn:SequenceFlow" && element.source && isChoice(element.source)) return ["flow", flowPanel];
    return PANELS[element.type];
  }

  function render(element) {
    current = element;
    bodyEl.textContent = "";
    var spec = panelFor(element);
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
