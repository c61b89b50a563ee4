// Clicking a coloured cell opens its series: the column names the benchmark, the table the rest.
(function () {
  var table = document.getElementById("hud");
  if (!table) return;
  var heads = table.querySelectorAll("tr.cols th");
  table.addEventListener("click", function (event) {
    var cell = event.target.closest("td");
    if (!cell || !cell.className || cell.className.indexOf("v-") !== 0) return;
    var head = heads[cell.cellIndex];
    if (!head || !head.dataset.b) return;
    var url = new URL(table.dataset.series, window.location.href);
    url.searchParams.set("benchmark", head.dataset.b);
    url.hash = "sha-" + cell.parentElement.dataset.sha;
    window.location.assign(url.toString());
  });
})();
