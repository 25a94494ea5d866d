/* 统计考核: the period picker shows the fields of the chosen kind; the charts are drawn with Apache
   ECharts (served by the app from node_modules) from the JSON the page carries. The tables beside
   each chart hold the same figures, so the page reads without scripts. */
(function () {
  "use strict";

  function pickerFields() {
    document.querySelectorAll(".period-picker").forEach(function (form) {
      var kind = form.querySelector("select[name=kind]");
      function show() {
        form.querySelectorAll(".period-field").forEach(function (field) {
          var on = field.getAttribute("data-kind") === kind.value;
          field.hidden = !on;
          field.querySelectorAll("input").forEach(function (input) { input.disabled = !on; });
        });
      }
      kind.addEventListener("change", show);
      show();
    });
  }

  function draw(id, option) {
    var node = typeof id === "string" ? document.getElementById(id) : id;
    if (!node || !window.echarts) { return; }
    var chart = window.echarts.init(node);
    chart.setOption(option);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function trends(data) {
    var months = data.trends.map(function (m) { return m.month; });
    var series = data.headline.map(function (h) {
      var rate = h[2] === "%";
      return { name: h[1], type: rate ? "line" : "bar", yAxisIndex: rate ? 1 : 0,
               data: data.trends.map(function (m) { return m[h[0]]; }) };
    });
    draw("chart-trends", {
      tooltip: { trigger: "axis" }, legend: { type: "scroll" }, grid: { left: 48, right: 56, bottom: 32 },
      xAxis: { type: "category", data: months },
      yAxis: [{ type: "value", minInterval: 1 }, { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } }],
      series: series
    });
  }

  function ranking(node, item) {
    if (!item || !item.names.length) { if (node) { node.hidden = true; } return; }
    draw(node, {
      tooltip: { trigger: "axis" }, grid: { left: 150, right: 24, top: 16, bottom: 24 },
      xAxis: { type: "value" }, yAxis: { type: "category", inverse: true, data: item.names },
      series: [{ type: "bar", data: item.values, label: { show: true, position: "right" } }]
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    pickerFields();
    var source = document.getElementById("assessment-charts");
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    trends(data);
    ranking(document.getElementById("chart-departments"), data.departments);
    document.querySelectorAll(".chart-units").forEach(function (node) {
      ranking(node, data.units[node.getAttribute("data-level")]);
    });
  });
}());
