// Search without a server: search-index.js holds every page's sections as text (SITE_SEARCH); a
// section matches when it holds every word of the query; more hits, and hits in its title, rank higher.
"use strict";
(function () {
  const index = window.SITE_SEARCH || [];
  const box = document.getElementById("search-query"), list = document.getElementById("search-results");
  const status = document.getElementById("search-status");
  function snippet(text, term) {
    const at = text.toLowerCase().indexOf(term), start = Math.max(0, at - 80);
    const piece = text.slice(start, at + term.length + 120);
    const fragment = document.createDocumentFragment();
    const i = piece.toLowerCase().indexOf(term);
    fragment.append((start > 0 ? "…" : "") + piece.slice(0, i));
    const mark = document.createElement("mark"); mark.textContent = piece.slice(i, i + term.length);
    fragment.append(mark, piece.slice(i + term.length) + "…");
    return fragment;
  }
  function run() {
    const query = box.value.trim();
    const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
    list.textContent = "";
    if (!terms.length) { status.textContent = "Type a word to search the lessons and docs."; return; }
    const found = [];
    for (const section of index) {
      const text = section.text.toLowerCase(), title = (section.page + " " + section.title).toLowerCase();
      let score = 0, all = true;
      for (const term of terms) {
        const hits = text.split(term).length - 1, inTitle = title.split(term).length - 1;
        if (!hits && !inTitle) { all = false; break; }
        score += hits + 10 * inTitle;
      }
      if (all) found.push({section, score});
    }
    found.sort((a, b) => b.score - a.score);
    status.textContent = found.length + (found.length === 1 ? " section holds " : " sections hold ") + "“" + query + "”.";
    for (const {section} of found.slice(0, 60)) {
      const item = document.createElement("li"), link = document.createElement("a");
      link.href = section.url + (section.anchor ? "#" + section.anchor : "");
      link.textContent = section.title || section.page;
      const where = document.createElement("div"); where.className = "site-result-where"; where.textContent = section.page;
      const text = document.createElement("div");
      const term = terms.find(t => section.text.toLowerCase().includes(t));
      if (term) text.append(snippet(section.text, term));
      item.append(link, where, text); list.append(item);
    }
  }
  box.value = new URLSearchParams(location.search).get("q") || "";
  box.addEventListener("input", run);
  run();
})();
