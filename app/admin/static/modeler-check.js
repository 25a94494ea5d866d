// 检查: run the deploy check and the lint rules on the diagram being edited (after every save, and
// on the 检查 button); mark the failing elements on the canvas and list the problems beside it —
// a problem's item selects its element and scrolls to it.
(function () {
  "use strict";
  var section = document.querySelector("[data-testid=modeler]");
  var panel = document.querySelector("[data-testid=check-panel]");
  if (!section || !panel) return;
  var status = panel.querySelector("[data-testid=check-status]");
  var list = panel.querySelector("[data-testid=check-problems]");
  var marked = [];
  var running = null;
  var again = false;

  function clearMarkers(canvas) {
    marked.forEach(function (m) { canvas.removeMarker(m[0], m[1]); });
    marked = [];
  }

  function select(element) {
    var modeler = section.modeler;
    modeler.get("selection").select(element);
    var canvas = modeler.get("canvas");
    if (canvas.scrollToElement) canvas.scrollToElement(element, { top: 120, left: 120, right: 120, bottom: 120 });
  }

  function item(problem, registry) {
    var li = document.createElement("li");
    li.className = "problem problem-" + problem.severity;
    li.dataset.rule = problem.rule;
    li.dataset.element = problem.element || "";
    var kind = problem.severity === "error" ? panel.dataset.msgError : panel.dataset.msgWarning;
    var where = (problem.file && problem.file !== section.dataset.file ? problem.file + " · " : "") +
      (problem.element || "") + (problem.line ? " (" + problem.line + ")" : "");
    var element = problem.file === section.dataset.file && problem.element ? registry.get(problem.element) : null;
    var head = document.createElement(element ? "button" : "span");
    head.className = element ? "link" : "";
    head.textContent = "[" + kind + "] " + where;
    if (element) head.addEventListener("click", function () { select(element); });
    var text = document.createElement("span");
    text.textContent = " " + problem.message + " · " + problem.rule;
    li.appendChild(head);
    li.appendChild(text);
    return { li: li, element: element };
  }

  function show(result) {
    var modeler = section.modeler;
    var canvas = modeler.get("canvas");
    var registry = modeler.get("elementRegistry");
    clearMarkers(canvas);
    list.textContent = "";
    result.problems.forEach(function (problem) {
      var made = item(problem, registry);
      list.appendChild(made.li);
      if (made.element) {
        var marker = "check-" + problem.severity;
        canvas.addMarker(made.element, marker);
        marked.push([made.element, marker]);
      }
    });
    var count = result.problems.length;
    status.textContent = count ? count + " " + panel.dataset.msgCount : panel.dataset.msgOk;
    panel.dataset.ok = result.ok ? "yes" : "no";
    panel.dataset.state = "done";
  }

  function check() {
    if (running) {  // a change saved during a check: check once more when this one is done
      again = true;
      return running;
    }
    panel.dataset.state = "running";
    status.textContent = panel.dataset.msgRunning;
    running = section.modeler.saveXML({ format: true }).then(function (saved) {
      return window.WhistleDraftEditor.post(panel.dataset.checkUrl, section, saved.xml);
    }).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok) throw new Error(data.error || resp.status);
        show(data);
      });
    }).catch(function (err) {
      status.textContent = panel.dataset.msgFailed + ": " + err.message;
      panel.dataset.state = "error";
    }).then(function () {
      running = null;
      if (again) {
        again = false;
        check();
      }
    });
    return running;
  }

  panel.querySelector("[data-testid=check-draft]").addEventListener("click", check);
  section.addEventListener("draft:saved", check);
  if (section.dataset.state === "ready") check();
  else section.addEventListener("modeler:ready", check);
})();
