// coachgen: draws the page's charts with the shipped plotly.min.js, in the theme's colours.
(function () {
  "use strict";
  var data = document.getElementById("charts");
  if (!data || typeof Plotly === "undefined") return;
  var figures = JSON.parse(data.textContent);
  var style = getComputedStyle(document.body);
  var text = style.color;
  var grid = style.getPropertyValue("--line").trim() || "#ddd";
  var phone = window.matchMedia("(max-width: 520px)").matches;
  // the page's language, where it is not English: month and day names, number separators
  var locale = null;
  var localeData = document.getElementById("plotly-locale");
  if (localeData) {
    try {
      locale = JSON.parse(localeData.textContent);
      Plotly.register(locale);
    } catch (e) {
      locale = null;
    }
  }
  Object.keys(figures).forEach(function (id) {
    var el = document.getElementById(id);
    if (!el) return;
    var fig = figures[id];
    var layout = fig.layout;
    layout.font = Object.assign({}, layout.font, { color: text });
    ["xaxis", "yaxis"].forEach(function (axis) {
      layout[axis] = Object.assign({ gridcolor: grid, linecolor: grid }, layout[axis]);
    });
    if (phone && layout.height > 200) layout.height = 240;
    var config = { displayModeBar: false, responsive: true, displaylogo: false, staticPlot: el.classList.contains("spark") };
    if (locale) config.locale = locale.name;
    Plotly.newPlot(el, fig.data, layout, config);
  });
})();
