// An exported explorer says how tall its page is; its frame here takes that height (no inner scrollbar).
"use strict";
window.addEventListener("message", event => {
  const height = event.data && event.data.attentionExplorerHeight;
  if (typeof height !== "number") return;
  for (const frame of document.querySelectorAll(".site-explorer iframe")) {
    if (frame.contentWindow === event.source) frame.style.height = Math.ceil(height) + 4 + "px";
  }
});
