// Draws the series figure built on the server; a click on a point opens that commit.
(function () {
  var holder = document.getElementById("series-chart");
  var source = document.getElementById("series-figure");
  if (!holder || !source || typeof Plotly === "undefined") return;
  var figure = JSON.parse(source.textContent);
  Plotly.newPlot(holder, figure.data, figure.layout, { responsive: true, displaylogo: false }).then(function () {
    holder.dataset.ready = "1";
  });
  holder.on("plotly_click", function (event) {
    var point = event.points && event.points[0];
    if (point && point.customdata && point.customdata[0]) window.location.assign(point.customdata[0]);
  });
})();
