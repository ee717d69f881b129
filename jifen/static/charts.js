/* Draws the desktop dashboards' charts with ECharts (static/vendor/echarts, loaded only on pages
   that call chart_scripts() in templates/_charts.html). Each chart is a server-made JSON block:
   <script type="application/json" data-chart="<box id>">{"option": …, "links": […], "locale": "ZH"}</script>
   A data block is not a script: the Content-Security-Policy (no inline script) stays as it is.
   With the chart drawn, its table (open for readers without JavaScript) folds away; a click on a
   category with a link (e.g. a village's row) follows it; charts follow the window's size. */
(function () {
  "use strict";
  function draw() {
    if (!window.echarts) return;  // the library did not load: the tables stay open
    var charts = [];
    document.querySelectorAll("script[type='application/json'][data-chart]").forEach(function (block) {
      var box = document.getElementById(block.getAttribute("data-chart"));
      var spec;
      try { spec = JSON.parse(block.textContent); } catch (e) { return; }
      if (!box || !spec.option) return;
      box.hidden = false;
      var chart = window.echarts.init(box, null, { renderer: "canvas", locale: spec.locale || "ZH" });
      chart.setOption(spec.option);
      if (spec.links) {
        chart.on("click", function (p) {
          var url = spec.links[p.dataIndex];
          if (url) location.href = url;
        });
        chart.getZr().on("click", function (e) {  // a click on the band around a bar, or on a label
          var at = [e.offsetX, e.offsetY];
          if (!chart.containPixel("grid", at)) return;
          var i = chart.convertFromPixel({ seriesIndex: 0 }, at)[0];
          if (e.target == null && spec.links[i]) location.href = spec.links[i];
        });
      }
      var table = box.parentNode.querySelector("details[data-chart-table]");
      if (table) table.open = false;
      charts.push(chart);
    });
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) clearTimeout(pending);
      pending = setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 150);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
