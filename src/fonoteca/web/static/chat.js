// Chat page: POST /api/chat, read the Server-Sent Events as they stream, render cited answers and every excerpt the
// answer was given (its sources, cited ones marked and first), Stop = abort.
(function () {
  "use strict";
  const root = document.getElementById("chat");
  if (!root) return;
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-message");
  const showSelect = document.getElementById("chat-show");
  const log = document.getElementById("chat-log");
  const errorBox = document.getElementById("chat-error");
  const sendButton = document.getElementById("chat-send");
  const stopButton = document.getElementById("chat-stop");
  const newButton = document.getElementById("chat-new");
  // A conversation about one episode is kept apart from the one about the whole archive.
  const storageKey = "fonoteca.conversation" + (root.dataset.episode ? `.${root.dataset.episode}` : "");
  let conversationId = sessionStorage.getItem(storageKey) || null;
  let controller = null;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function timestamp(seconds) {
    const total = Math.floor(seconds);
    const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  }

  // The answer as text nodes, with each [n] of a given excerpt turned into a link to its exact second.
  function renderAnswer(container, text, sources) {
    const byNumber = new Map(sources.map((c) => [c.n, c]));
    container.textContent = "";
    const pattern = /\[(\d+)\]/g;
    let last = 0, match;
    while ((match = pattern.exec(text)) !== null) {
      container.append(document.createTextNode(text.slice(last, match.index)));
      const citation = byNumber.get(Number(match[1]));
      if (citation) {
        const link = element("a", "citation", `[${match[1]}]`);
        link.href = citation.url;
        link.title = `${citation.title} — ${timestamp(citation.start)}`;
        container.append(link);
      } else {
        container.append(document.createTextNode(match[0]));
      }
      last = pattern.lastIndex;
    }
    container.append(document.createTextNode(text.slice(last)));
  }

  // Every excerpt the answer was given, in the server's order (cited ones first); a cited one is marked.
  function renderSources(list, sources) {
    list.textContent = "";
    for (const c of sources) {
      const item = element("li", c.cited ? "cited" : null);
      item.dataset.n = c.n;
      const link = element("a", null, `[${c.n}] ${c.title} — ${timestamp(c.start)}` + (c.speaker ? ` — ${c.speaker}` : ""));
      link.href = c.url;
      item.append(link);
      if (c.cited) item.append(element("span", "chat-cited", "cited"));
      item.append(element("q", null, c.text));
      list.append(item);
    }
  }

  // A stored or streamed answer's sources; answers stored before sources existed kept only their citations.
  function sourcesOf(data) {
    if (Array.isArray(data.sources)) return data.sources;
    return (data.citations || []).map((c) => ({ ...c, cited: true }));
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function busy(on) {
    sendButton.disabled = on;
    stopButton.disabled = !on;
    input.readOnly = on;
  }

  // Parse "event: x\ndata: {...}\n\n" blocks from a text stream, calling onEvent(name, data) for each.
  async function readEvents(response, onEvent) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) onEvent(name, JSON.parse(data));
      }
    }
  }

  // One question and the box its answer goes into.
  function addTurn(message) {
    log.append(element("div", "chat-message chat-user", message));
    const turn = element("div", "chat-message chat-assistant");
    const answer = element("div", "chat-answer");
    const sources = element("ol", "chat-sources");
    turn.append(answer, sources);
    log.append(turn);
    return { turn, answer, sources };
  }

  // After a reload, the conversation this tab was having is shown again (the server keeps it).
  async function restore() {
    if (!conversationId) return;
    const response = await fetch(`/api/conversations/${encodeURIComponent(conversationId)}`);
    if (!response.ok) {
      conversationId = null;
      sessionStorage.removeItem(storageKey);
      return;
    }
    const { messages } = await response.json();
    for (let i = 0; i + 1 < messages.length; i += 2) {
      const { answer, sources } = addTurn(messages[i].content);
      const given = sourcesOf(messages[i + 1]);
      renderAnswer(answer, messages[i + 1].content, given);
      renderSources(sources, given);
    }
  }

  async function ask(message) {
    errorBox.hidden = true;
    const { turn, answer, sources } = addTurn(message);
    let text = "";
    controller = new AbortController();
    busy(true);
    try {
      const response = await fetch(root.dataset.api, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "text/event-stream",
          // The server refuses a browser's POST without the page's CSRF token (see guards.py).
          "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content,
        },
        body: JSON.stringify({
          message,
          conversation_id: conversationId,
          show: showSelect.value || null,
          episode: root.dataset.episode || null,
        }),
        signal: controller.signal,
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        const detail = typeof body.detail === "string" ? body.detail : `the server answered ${response.status}`;
        throw new Error(detail);
      }
      await readEvents(response, (name, data) => {
        if (name === "queue") {
          // the public's questions wait while the model writes others' answers (web/chat_limits.py)
          answer.textContent = `Waiting for the model: number ${data.position} in the queue…`;
        } else if (name === "meta") {
          conversationId = data.conversation_id;
          sessionStorage.setItem(storageKey, conversationId);
          renderSources(sources, sourcesOf(data)); // what the answer is based on, while it is written
        } else if (name === "token") {
          text += data.text;
          answer.textContent = text;
        } else if (name === "citations") {
          const given = sourcesOf(data);
          renderAnswer(answer, data.answer, given);
          renderSources(sources, given);
        } else if (name === "error") {
          showError(data.message);
        }
      });
    } catch (error) {
      if (error.name === "AbortError") {
        turn.append(element("p", "chat-stopped", "(stopped)"));
      } else {
        showError(error.message || String(error));
      }
    } finally {
      controller = null;
      busy(false);
      input.focus();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = input.value.trim();
    if (!message || controller) return;
    input.value = "";
    ask(message);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  stopButton.addEventListener("click", () => controller && controller.abort());
  restore().catch(() => {});
  newButton.addEventListener("click", () => {
    if (controller) controller.abort();
    conversationId = null;
    sessionStorage.removeItem(storageKey);
    log.textContent = "";
    errorBox.hidden = true;
  });
})();
