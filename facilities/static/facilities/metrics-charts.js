/* The dashboard's 12-month trend charts (issue 9): small SVG bar charts drawn from the JSON island
   #metrics-charts-data. No library, nothing fetched. The trend table above carries the same
   numbers and is the accessible form; the charts are decorative copies (aria-hidden). */
(function () {
  "use strict";
  var island = document.getElementById("metrics-charts-data");
  var area = document.getElementById("metrics-chart-area");
  if (!island || !area) { return; }
  var data;
  try { data = JSON.parse(island.textContent); } catch (e) { return; }
  var SVG = "http://www.w3.org/2000/svg";
  var W = 360, H = 160, PAD = 24;

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function display(unit, value) {
    if (value === null || value === undefined) { return "—"; }
    if (unit === "seconds") { return (value / 3600).toFixed(1) + " h"; }
    if (unit === "percent") { return value.toFixed(1) + "%"; }
    return String(value);
  }

  data.series.forEach(function (series) {
    var figure = document.createElement("figure");
    figure.className = "metrics-chart";
    var caption = document.createElement("figcaption");
    caption.textContent = series.label + "（" + series.rule + "）";
    figure.appendChild(caption);
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, "aria-hidden": "true", focusable: "false" });
    var values = series.values.map(function (v) { return v === null ? 0 : v; });
    var max = Math.max.apply(null, values.concat([1]));
    var step = (W - 2 * PAD) / Math.max(values.length, 1);
    values.forEach(function (v, i) {
      var h = (H - 2 * PAD) * v / max;
      var x = PAD + i * step + step * 0.15;
      var bar = el("rect", { x: x, y: H - PAD - h, width: step * 0.7, height: h, "class": "metrics-bar" });
      bar.appendChild(el("title", {}, data.months[i] + "：" + display(series.unit, series.values[i])));
      svg.appendChild(bar);
      if (i === 0 || i === values.length - 1) {
        svg.appendChild(el("text", { x: x, y: H - 6, "font-size": 10 }, data.months[i]));
      }
    });
    svg.appendChild(el("line", { x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD, stroke: "currentColor" }));
    svg.appendChild(el("text", { x: PAD, y: 12, "font-size": 10 }, display(series.unit, max)));
    figure.appendChild(svg);
    area.appendChild(figure);
  });
})();
