// The admin dashboard's charts: data from the json_script block, drawn with Chart.js.
(function () {
  "use strict";
  var source = document.getElementById("kb-figures");
  if (!source || typeof Chart === "undefined") { return; }
  var f = JSON.parse(source.textContent);
  var words = JSON.parse(document.getElementById("kb-labels").textContent);
  var green = "#0b6e4f", grey = "#9aa5b1", amber = "#f0b429";
  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { new Chart(canvas, config); }
  }
  var common = { responsive: true, animation: false, plugins: { legend: { display: false } } };
  draw("kb-chart-nps", {
    type: "line",
    data: { labels: f.nps_trend.map(function (r) { return r.month; }),
            datasets: [{ data: f.nps_trend.map(function (r) { return r.nps; }), borderColor: green, backgroundColor: green }] },
    options: Object.assign({}, common, { scales: { y: { min: -100, max: 100 } } })
  });
  draw("kb-chart-growth", {
    type: "bar",
    data: { labels: f.growth.map(function (r) { return r.month; }),
            datasets: [{ data: f.growth.map(function (r) { return r.count; }), backgroundColor: green }] },
    options: common
  });
  draw("kb-chart-mail", {
    type: "bar",
    data: { labels: f.mail.per_day.map(function (r) { return r.day; }),
            datasets: [{ label: words.sent, data: f.mail.per_day.map(function (r) { return r.sent; }), backgroundColor: grey },
                       { label: words.opened, data: f.mail.per_day.map(function (r) { return r.opened; }), backgroundColor: green }] },
    options: Object.assign({}, common, { plugins: { legend: { display: true } } })
  });
  draw("kb-chart-sources", {
    type: "bar",
    data: { labels: f.sources.map(function (r) { return words.sources[r.source] || r.source; }),
            datasets: [{ data: f.sources.map(function (r) { return r.count; }), backgroundColor: amber }] },
    options: common
  });
  document.documentElement.setAttribute("data-dashboard-drawn", "1");
})();
