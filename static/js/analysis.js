/* Usage analysis chart. Data comes from the json_script element #usage-data (not executable). */
(function () {
  "use strict";

  var COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626"];

  function datasets(data, mode) {
    var series = mode === "rate" ? data.rates : data.counts;
    return Object.keys(series).map(function (key, i) {
      return {
        label: data.names[key],
        data: series[key],
        borderColor: COLORS[i % COLORS.length],
        backgroundColor: COLORS[i % COLORS.length],
        spanGaps: false,
        tension: 0.2
      };
    });
  }

  function init() {
    var source = document.getElementById("usage-data");
    var canvas = document.getElementById("usage-chart");
    if (!source || !canvas || !window.Chart) { return; }
    var data = JSON.parse(source.textContent);
    var chart = new window.Chart(canvas, {
      type: "line",
      data: { labels: data.labels, datasets: datasets(data, "count") },
      options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } }
    });
    document.querySelectorAll("input[data-chart-mode]").forEach(function (input) {
      input.addEventListener("change", function () {
        if (!input.checked) { return; }
        chart.data.datasets = datasets(data, input.value);
        chart.options.scales.y.max = input.value === "rate" ? 100 : undefined;
        chart.update();
        canvas.setAttribute("data-mode", input.value);
      });
    });
    window.Pushdeck = window.Pushdeck || {};
    window.Pushdeck.usageChart = chart;
    canvas.setAttribute("data-ready", "");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
