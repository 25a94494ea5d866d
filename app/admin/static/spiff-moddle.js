// The SpiffWorkflow extension elements the product's diagrams use (processes/*.bpmn), described for
// bpmn-js's moddle so the modeler reads, edits and writes them: a user task's
// <spiffworkflow:properties>, a service task's <spiffworkflow:serviceTaskOperator> with its
// parameters, a business rule task's <spiffworkflow:calledDecisionId>, pre/post scripts.
(function () {
  "use strict";
  function attr(name) { return { name: name, isAttr: true, type: "String" }; }
  function body(name) { return { name: name, superClass: ["Element"], properties: [{ name: "value", isBody: true, type: "String" }] }; }
  window.WhistleSpiffModdle = {
    name: "SpiffWorkflow",
    prefix: "spiffworkflow",
    uri: "http://spiffworkflow.org/bpmn/schema/1.0/core",
    xml: { tagAlias: "lowerCase" },
    associations: [],
    types: [
      { name: "Properties", superClass: ["Element"], properties: [{ name: "properties", type: "Property", isMany: true }] },
      { name: "Property", superClass: ["Element"], properties: [attr("name"), attr("value")] },
      { name: "ServiceTaskOperator", superClass: ["Element"],
        properties: [attr("id"), attr("resultVariable"), { name: "parameters", type: "Parameters" }] },
      { name: "Parameters", superClass: ["Element"], properties: [{ name: "parameters", type: "Parameter", isMany: true }] },
      { name: "Parameter", superClass: ["Element"], properties: [attr("id"), attr("type"), attr("value")] },
      body("CalledDecisionId"), body("PreScript"), body("PostScript"), body("InstructionsForEndUser")
    ]
  };
})();
