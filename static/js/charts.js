// salestrack dashboards: the charts, drawn by plotly.js (static/vendor/plotly) from the JSON
// the page embeds (#chart-data). One palette, one number format (the page's language), the
// modebar's PNG download, and charts that resize with the window.
(function () {
  "use strict";

  var source = document.getElementById("chart-data");
  if (!source || typeof Plotly === "undefined") return;
  var data = JSON.parse(source.textContent);
  var lang = document.documentElement.lang || "en";
  var L = data.labels;

  var COLORS = {
    brand: "#2457c5",
    brandSoft: "#9db5ea",
    good: "#157347",
    bad: "#b42318",
    muted: "#8a97a8",
    accent: "#c77700",
    grid: "#e6eaf0",
    text: "#1c2430",
  };

  // Plotly's separators ("decimal" then "thousands") for the page's language.
  var parts = new Intl.NumberFormat(lang).formatToParts(12345.6);
  var decimal = ".",
    group = ",";
  parts.forEach(function (part) {
    if (part.type === "decimal") decimal = part.value;
    if (part.type === "group") group = part.value;
  });

  var moneyFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
  var percentFormat = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });
  function money(value) {
    return value === null || value === undefined ? "—" : moneyFormat.format(value) + " " + data.currency;
  }
  function percent(value) {
    return value === null || value === undefined ? "—" : percentFormat.format(value);
  }

  function layout(extra) {
    var base = {
      separators: decimal + group,
      font: { family: getComputedStyle(document.body).fontFamily, size: 12, color: COLORS.text },
      margin: { l: 56, r: 16, t: 8, b: 40 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      hovermode: "closest",
      showlegend: false,
      legend: { orientation: "h", y: -0.2 },
      xaxis: { gridcolor: COLORS.grid, automargin: true },
      yaxis: { gridcolor: COLORS.grid, automargin: true, rangemode: "tozero" },
    };
    return Object.assign(base, extra || {});
  }

  var config = {
    responsive: true,
    displaylogo: false,
    // The app works offline and never sends data out: no "Share chart…" (it uploads the chart to
    // Plotly's cloud) and no Chart Studio link; the PNG download stays.
    showSendToCloud: false,
    showEditInChartStudio: false,
    showLink: false,
    modeBarButtonsToRemove: [
      "select2d",
      "lasso2d",
      "autoScale2d",
      "toggleSpikelines",
      "sendDataToCloud",
      "editInChartStudio",
    ],
    toImageButtonOptions: { format: "png", filename: data.filename, scale: 2 },
  };

  function empty(element) {
    element.classList.add("chart-empty");
    element.textContent = L.empty;
  }

  function draw(name, traces, extraLayout, withConfig) {
    var element = document.querySelector('[data-chart="' + name + '"]');
    if (!element) return null;
    Plotly.newPlot(element, traces, layout(extraLayout), Object.assign({}, config, withConfig || {}));
    return element;
  }

  var charts = {
    pace: function () {
      var pace = data.pace;
      var traces = [
        {
          x: pace.x,
          y: pace.actual,
          name: L.revenue,
          type: "scatter",
          mode: "lines",
          line: { color: COLORS.brand, width: 3, shape: "hv" },
          fill: "tozeroy",
          fillcolor: "rgba(36,87,197,0.08)",
          hovertemplate: "%{x}<br>" + L.revenue + ": %{y:,.0f} " + data.currency + "<extra></extra>",
        },
      ];
      if (pace.quota) {
        traces.push({
          x: pace.x,
          y: pace.quota,
          name: L.quota,
          type: "scatter",
          mode: "lines",
          line: { color: COLORS.good, dash: "dash" },
          hovertemplate: "%{x}<br>" + L.quota + ": %{y:,.0f} " + data.currency + "<extra></extra>",
        });
      }
      if (pace.projection) {
        traces.push({
          x: pace.x,
          y: pace.projection,
          name: L.projection,
          type: "scatter",
          mode: "lines",
          line: { color: COLORS.accent, dash: "dot" },
          hovertemplate: "%{x}<br>" + L.projection + ": %{y:,.0f} " + data.currency + "<extra></extra>",
        });
      }
      draw("pace", traces, { showlegend: true, hovermode: "x unified", yaxis: { gridcolor: COLORS.grid, rangemode: "tozero", ticksuffix: " " } });
    },

    trend: function (kind) {
      var series = data.trend[kind];
      var element = document.querySelector('[data-chart="trend-' + kind + '"]');
      if (!element) return;
      if (!series.avg_deal_size.some(function (v) { return v !== null; }) && !series.win_rate.some(function (v) { return v !== null; })) {
        empty(element);
        return;
      }
      draw(
        "trend-" + kind,
        [
          {
            x: series.x,
            y: series.avg_deal_size,
            name: L.avg_deal_size,
            type: "bar",
            marker: { color: COLORS.brandSoft },
            hovertemplate: "%{x}<br>" + L.avg_deal_size + ": %{y:,.0f} " + data.currency + "<extra></extra>",
          },
          {
            x: series.x,
            y: series.win_rate,
            name: L.win_rate,
            type: "scatter",
            mode: "lines+markers",
            yaxis: "y2",
            connectgaps: false,
            line: { color: COLORS.good, width: 2 },
            customdata: series.closed,
            hovertemplate: "%{x}<br>" + L.win_rate + ": %{y:.1%} (n=%{customdata})<extra></extra>",
          },
        ],
        {
          showlegend: true,
          xaxis: { type: "category", automargin: true },
          yaxis2: { overlaying: "y", side: "right", tickformat: ".0%", range: [0, 1], showgrid: false },
          margin: { l: 56, r: 48, t: 8, b: 40 },
        }
      );
    },

    funnel: function () {
      var steps = data.funnel;
      var element = document.querySelector('[data-chart="funnel"]');
      if (!element) return;
      if (!steps.length || !steps.some(function (s) { return s.reached; })) {
        empty(element);
        return;
      }
      draw(
        "funnel",
        [
          {
            type: "funnel",
            y: steps.map(function (s) { return s.stage; }),
            x: steps.map(function (s) { return s.reached; }),
            customdata: steps.map(function (s) { return percent(s.leakage); }),
            textinfo: "value+percent initial",
            marker: { color: steps.map(function (s) { return s.link ? COLORS.brand : COLORS.good; }) },
            hovertemplate: "%{y}<br>" + L.reached + ": %{x}<br>" + L.leakage + ": %{customdata}<extra></extra>",
          },
        ],
        { margin: { l: 96, r: 16, t: 8, b: 16 } }
      );
      // Drilling down: a stage leads to the deals that leaked there.
      element.on("plotly_click", function (event) {
        var step = steps[event.points[0].pointNumber];
        if (step && step.link) window.location.href = step.link;
      });
    },

    mix: function () {
      var rows = data.mix;
      var element = document.querySelector('[data-chart="mix"]');
      if (!element) return;
      if (!rows.length) {
        empty(element);
        return;
      }
      draw(
        "mix",
        [
          {
            type: "bar",
            orientation: "h",
            y: rows.map(function (r) { return r.name; }),
            x: rows.map(function (r) { return r.count; }),
            customdata: rows.map(function (r) { return [r.minutes, r.selling ? L.selling : L.not_selling]; }),
            marker: { color: rows.map(function (r) { return r.selling ? COLORS.brand : COLORS.muted; }) },
            hovertemplate: "%{y} (%{customdata[1]})<br>" + L.count + ": %{x:,}<br>" + L.minutes + ": %{customdata[0]:,}<extra></extra>",
          },
        ],
        { yaxis: { autorange: "reversed", automargin: true }, margin: { l: 110, r: 16, t: 8, b: 32 } }
      );
    },

    products: function () {
      var rows = data.products;
      var element = document.querySelector('[data-chart="products"]');
      if (!element) return;
      if (!rows.length) {
        empty(element);
        return;
      }
      draw(
        "products",
        [
          {
            type: "bar",
            orientation: "h",
            y: rows.map(function (r) { return r.name; }),
            x: rows.map(function (r) { return r.revenue; }),
            customdata: rows.map(function (r) { return r.won; }),
            marker: { color: COLORS.brand },
            hovertemplate: "%{y}<br>" + L.revenue + ": %{x:,.0f} " + data.currency + "<br>" + L.won + ": %{customdata}<extra></extra>",
          },
        ],
        { yaxis: { autorange: "reversed", automargin: true }, margin: { l: 110, r: 16, t: 8, b: 32 } }
      );
    },

    regions: function () {
      var rows = data.regions;
      var element = document.querySelector('[data-chart="regions"]');
      if (!element) return;
      if (!rows.length) {
        empty(element);
        return;
      }
      draw("regions", [
        {
          type: "bar",
          x: rows.map(function (r) { return r.name; }),
          y: rows.map(function (r) { return r.revenue; }),
          marker: { color: COLORS.good },
          hovertemplate: "%{x}<br>" + L.revenue + ": %{y:,.0f} " + data.currency + "<extra></extra>",
        },
      ]);
    },
  };

  charts.pace();
  charts.trend("month");
  charts.trend("quarter");
  charts.funnel();
  charts.mix();
  charts.products();
  charts.regions();
  document.documentElement.dataset.chartsReady = "true";
  window.salestrackMoney = money;
})();
