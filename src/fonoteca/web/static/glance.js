// Episode page at a glance: a click on a chapter, a key moment or the chapter bar seeks the player (the link's
// ?t=SECONDS is the way without a player or without scripts); the chapter playing is marked in the list and the bar.
(function () {
  "use strict";
  const player = document.getElementById("player");
  const targets = Array.from(document.querySelectorAll("[data-seek]"));
  if (!player || !targets.length) return;
  function seek(t) {
    const go = () => { player.currentTime = t; player.play().catch(() => {}); };
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
  }
  targets.forEach(a => a.addEventListener("click", e => { e.preventDefault(); seek(parseFloat(a.dataset.seek)); }));
  const chapters = Array.from(document.querySelectorAll(".chapters a[data-seek], .chapter-bar a[data-seek]"));
  player.addEventListener("timeupdate", () => {
    const t = player.currentTime;
    const starts = chapters.map(a => parseFloat(a.dataset.seek)).filter(s => s <= t);
    const current = starts.length ? Math.max(...starts) : null;
    chapters.forEach(a => a.classList.toggle("current", parseFloat(a.dataset.seek) === current));
  });
})();
