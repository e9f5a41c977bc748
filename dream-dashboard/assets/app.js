// Progressive enhancement only: every page works without this file.
"use strict";
document.addEventListener("click", async (event) => {
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const source = document.getElementById(copy.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      copy.textContent = "Copied";
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      copy.textContent = "Press Ctrl+C";
    }
  }
  const add = event.target.closest("[data-add-tier]");
  if (add) {
    const template = document.getElementById("tier-template");
    const rows = document.getElementById("tier-rows");
    const index = rows.querySelectorAll(".tier-row").length;
    const html = template.innerHTML.replaceAll("__INDEX__", String(index));
    rows.insertAdjacentHTML("beforeend", html);
    rows.lastElementChild.querySelector("input").focus();
  }
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  for (const button of form.querySelectorAll("button[type=submit], button:not([type])")) {
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
  }
});
