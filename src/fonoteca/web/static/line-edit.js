// The owner's episode page: ✎ beside each line fixes it in place (POST /episode/ID/lines/IDX with the page's CSRF
// token); the page then reloads, so the line, its history and the search all show the new revision.
(function () {
  "use strict";
  const section = document.getElementById("line-edits");
  if (!section) return;
  const episode = section.dataset.episode;
  const token = document.querySelector('meta[name="csrf-token"]').content;

  function open(line) {
    if (line.querySelector("textarea")) return;
    const text = line.querySelector(".text");
    const editor = document.createElement("textarea");
    editor.className = "line-editor";
    editor.value = text.textContent;
    editor.setAttribute("aria-label", "Fix this line (Enter saves, Escape cancels)");
    text.hidden = true;
    text.after(editor);
    editor.focus();
    const close = () => { editor.remove(); text.hidden = false; };
    editor.addEventListener("click", e => e.stopPropagation());
    editor.addEventListener("keydown", async e => {
      e.stopPropagation();
      if (e.key === "Escape") { close(); return; }
      if (e.key !== "Enter" || e.shiftKey) return;
      e.preventDefault();
      const body = new URLSearchParams({ text: editor.value });
      const response = await fetch(`/episode/${encodeURIComponent(episode)}/lines/${line.dataset.idx}`, {
        method: "POST", headers: { "X-CSRF-Token": token }, body, credentials: "same-origin",
      });
      if (response.ok) { location.reload(); return; }
      const detail = await response.json().catch(() => ({}));
      editor.setCustomValidity(detail.detail || `not saved (HTTP ${response.status})`);
      editor.reportValidity();
    });
  }

  document.querySelectorAll(".transcript .line[data-idx]").forEach(line => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "edit-line";
    button.textContent = "✎";
    button.setAttribute("aria-label", "Fix this line");
    button.addEventListener("click", e => { e.stopPropagation(); open(line); });
    line.append(" ", button);
  });
})();
