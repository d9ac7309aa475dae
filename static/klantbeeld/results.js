// A survey's results chart: NPS per month, or answers per choice, or average rank.
(function () {
  "use strict";
  var source = document.getElementById("results-data");
  var canvas = document.getElementById("results-chart");
  if (!source || !canvas || typeof Chart === "undefined") { return; }
  var d = JSON.parse(source.textContent);
  var labels, values, options = { responsive: true, animation: false, plugins: { legend: { display: false } } };
  if (d.kind === "nps") {
    labels = d.months.map(function (m) { return m.month; });
    values = d.months.map(function (m) { return m.nps; });
    options.scales = { y: { min: -100, max: 100 } };
  } else if (d.kind === "ranking") {
    labels = d.ranking.map(function (r) { return r.reason; });
    values = d.ranking.map(function (r) { return r.average; });
  } else {
    labels = d.totals.map(function (r) { return r.choice; });
    values = d.totals.map(function (r) { return r.count; });
  }
  new Chart(canvas, {
    type: d.kind === "nps" ? "line" : "bar",
    data: { labels: labels, datasets: [{ data: values, backgroundColor: "#0b6e4f", borderColor: "#0b6e4f" }] },
    options: options
  });
})();
