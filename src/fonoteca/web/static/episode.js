// Episode page: click a line to seek, the current line follows playback, ?t=SECONDS starts there.
(function () {
  "use strict";
  const player = document.getElementById("player");
  const lines = Array.from(document.querySelectorAll(".transcript .line"));
  // Lines matching ?q= come marked (class "match") by the server, with the search's own whole-word matching.
  if (!player) return;

  const box = document.getElementById("player-box");
  const start = parseFloat(box.dataset.start || "0");
  function seek(t, play) {
    const go = () => { player.currentTime = t; if (play) player.play().catch(() => {}); };
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
  }
  if (start > 0) {
    seek(start, true);
    const target = lines.filter(l => parseFloat(l.dataset.start) <= start).pop();
    if (target) target.scrollIntoView({ block: "center" });
  }
  lines.forEach(line => {
    line.addEventListener("click", e => {
      if (e.target.closest("a.ts")) e.preventDefault();
      seek(parseFloat(line.dataset.start), true);
    });
    line.addEventListener("keydown", e => { if (e.key === "Enter") seek(parseFloat(line.dataset.start), true); });
  });
  // Who speaks the current line, beside the player, in their colour (lines of a transcript with speakers carry
  // data-speaker and --speaker).
  const speaking = document.getElementById("now-speaking");
  function showSpeaker(line) {
    if (!speaking) return;
    const name = line && line.dataset.speaker;
    speaking.hidden = !name;
    if (!name) return;
    const label = speaking.querySelector(".speaker");
    label.textContent = name;
    speaking.style.setProperty("--speaker", line.style.getPropertyValue("--speaker"));
  }
  let active = null;
  player.addEventListener("timeupdate", () => {
    const t = player.currentTime;
    const now = lines.find(l => t >= parseFloat(l.dataset.start) && t < parseFloat(l.dataset.end));
    if (now === active) return;
    if (active) active.classList.remove("current");
    active = now || null;
    if (active) active.classList.add("current");
    showSpeaker(active);
  });
})();
