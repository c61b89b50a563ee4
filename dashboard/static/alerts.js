// Triage: sends the form as PATCH with the bearer token typed on the page (kept in this tab only).
(function () {
  var tokenInput = document.getElementById("api-token");
  var status = document.getElementById("triage-status");
  if (!tokenInput) return;
  tokenInput.value = sessionStorage.getItem("perfhud-token") || "";
  tokenInput.addEventListener("change", function () { sessionStorage.setItem("perfhud-token", tokenInput.value); });
  document.querySelectorAll("form.triage").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {
        state: form.elements.state.value,
        assignee: form.elements.assignee.value,
        notes: form.elements.notes.value
      };
      fetch(form.dataset.url, {
        method: "PATCH",
        headers: { "Content-Type": "application/json", "Authorization": "Bearer " + tokenInput.value },
        body: JSON.stringify(body)
      }).then(function (response) {
        return response.json().then(function (data) {
          status.textContent = response.ok ? "saved group " + data.id : "not saved: " + data.error;
          if (response.ok) form.closest("section").className = "alert-group state-" + data.state;
        });
      }).catch(function (err) { status.textContent = "not saved: " + err; });
    });
  });
})();
