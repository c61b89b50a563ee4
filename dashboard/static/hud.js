// Draws the HUD's cells, then opens a cell's series when it is clicked.
//
// Each row carries its cells packed as text (data-cells, written by db/queries/hud.py): cells
// separated by ";", each "benchmark_id,result_id,verdict,change_pct,median,confidence", an
// empty field for a missing value. A commit measured twice on this host has two cells for a
// benchmark; the larger result id (the newer run) wins. A column without a result shows the
// row's job state (data-state: pending or failed), or nothing.
(function () {
  var table = document.getElementById("hud");
  if (!table) return;

  var VERDICT_CLASS = { no_change: "v-ok", regression: "v-reg", improvement: "v-imp", suspect: "v-sus" };
  var STATE_CELL = {
    pending: '<td class="v-pend" title="queued or running"></td>',
    failed: '<td class="v-fail" title="job failed"></td>',
  };
  var ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, function (ch) { return ESCAPES[ch]; });
  }

  // Four significant digits without trailing zeros, like Python's "%.4g".
  function fourDigits(value) {
    return String(Number(value.toPrecision(4)));
  }

  function cellHtml(fields, unit) {
    var verdict = fields[2];
    var css = Object.prototype.hasOwnProperty.call(VERDICT_CLASS, verdict) ? VERDICT_CLASS[verdict] : "v-meas";
    var text = "";
    if (fields[3] !== "") {
      var change = parseFloat(fields[3]);
      text = (change >= 0 ? "+" : "") + change.toFixed(1) + "%";
    }
    var hover = fourDigits(parseFloat(fields[4])) + " " + unit;
    if (fields[5] !== "") hover += " · confidence " + Math.round(parseFloat(fields[5]) * 100) + "%";
    return '<td class="' + css + '" title="' + hover + '">' + text + "</td>";
  }

  function unpack(packed) {
    var byBenchmark = {};
    if (!packed) return byBenchmark;
    var cells = packed.split(";");
    for (var i = 0; i < cells.length; i++) {
      var fields = cells[i].split(",");
      var older = byBenchmark[fields[0]];
      if (!older || Number(older[1]) < Number(fields[1])) byBenchmark[fields[0]] = fields;
    }
    return byBenchmark;
  }

  var heads = table.querySelectorAll("tr.cols th");
  var columns = [];
  for (var h = 0; h < heads.length; h++) {
    if (heads[h].dataset.b) columns.push([heads[h].dataset.b, escapeHtml(heads[h].dataset.u || "")]);
  }
  var rows = table.tBodies[0].rows;
  for (var r = 0; r < rows.length; r++) {
    var row = rows[r];
    var byBenchmark = unpack(row.dataset.cells);
    var state = row.dataset.state;
    var missing = Object.prototype.hasOwnProperty.call(STATE_CELL, state) ? STATE_CELL[state] : "<td></td>";
    var html = new Array(columns.length);
    for (var c = 0; c < columns.length; c++) {
      var fields = byBenchmark[columns[c][0]];
      html[c] = fields ? cellHtml(fields, columns[c][1]) : missing;
    }
    row.insertAdjacentHTML("beforeend", html.join(""));
  }
  table.dataset.ready = "1";

  // Clicking a coloured cell opens its series: the column names the benchmark, the table the rest.
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
