// fraudctl dashboard: alerts from /ws as cards. Every alert field is set with textContent,
// never parsed as HTML. Each page reads the stream from its own position; on reconnect it
// sends the last stream id it saw, so nothing is shown or counted twice.
"use strict";

(() => {
  const MAX_CARDS = 100;
  const REFUSED = 1008; // WebSocket close codes the dashboard sends after accepting
  const TRY_LATER = 1013;
  const BUSY_RETRY_MS = 30000; // the connection cap was reached: ask again much later
  const MAX_REMEMBERED = 5000;
  const HOUR_MS = 3600 * 1000;

  const state = {
    lastId: null,
    seen: new Set(),
    remembered: [], // [{id, detectedAt}] oldest first, for the totals after stats.as_of
    stats: null,
    retryMs: 500,
  };

  const $ = (id) => document.getElementById(id);

  function parseId(id) {
    const [ms, seq] = String(id).split("-");
    return [BigInt(ms || "0"), BigInt(seq || "0")];
  }

  function compareIds(a, b) {
    const [am, as] = parseId(a);
    const [bm, bs] = parseId(b);
    if (am !== bm) return am < bm ? -1 : 1;
    if (as !== bs) return as < bs ? -1 : 1;
    return 0;
  }

  function setStatus(kind, text) {
    const el = $("status");
    el.className = `status ${kind}`;
    el.textContent = text;
  }

  function formatAmount(amount, currency) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount);
    } catch (_err) {
      return `${Number(amount).toFixed(2)} ${currency}`;
    }
  }

  function fill(card, field, value) {
    const el = card.querySelector(`[data-field="${field}"]`);
    if (el) el.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
  }

  function buildCard(id, alert) {
    const card = $("card-template").content.firstElementChild.cloneNode(true);
    card.dataset.streamId = id;
    const detected = alert.detected_at ? new Date(alert.detected_at) : null;
    fill(card, "transaction_id", alert.transaction_id);
    fill(card, "time", detected ? detected.toLocaleTimeString() : alert.timestamp);
    if (detected) card.querySelector(".when").setAttribute("datetime", detected.toISOString());
    fill(card, "user_id", alert.user_id);
    fill(card, "amount", formatAmount(alert.amount, alert.currency || "USD"));
    fill(card, "merchant_id", alert.merchant_id);
    fill(card, "location", alert.location);
    fill(card, "card", alert.card_last4 ? `•••• ${alert.card_last4}` : "");
    const threshold = typeof alert.threshold === "number" ? ` / ${alert.threshold.toFixed(2)}` : "";
    fill(card, "score", `${Number(alert.score).toFixed(2)}${threshold}`);
    const latency = alert.received_at && alert.detected_at ? alert.detected_at - alert.received_at : null;
    fill(card, "latency", latency === null ? "" : `${latency} ms`);
    fill(card, "model_version", alert.model_version);
    const list = card.querySelector(".reasons");
    for (const reason of alert.reasons || []) {
      const item = document.createElement("li");
      const code = document.createElement("strong");
      code.textContent = reason.code;
      item.appendChild(code);
      if (reason.message) item.appendChild(document.createTextNode(` ${reason.message}`));
      list.appendChild(item);
    }
    return card;
  }

  function addAlert(id, alert) {
    if (state.seen.has(id)) return;
    state.seen.add(id);
    state.remembered.push({ id, detectedAt: alert.detected_at || Number(parseId(id)[0]) });
    if (state.remembered.length > MAX_REMEMBERED) {
      const dropped = state.remembered.shift();
      state.seen.delete(dropped.id);
    }
    if (state.lastId === null || compareIds(id, state.lastId) > 0) state.lastId = id;

    const container = $("alerts");
    const empty = $("empty");
    if (empty) empty.remove();
    container.insertBefore(buildCard(id, alert), container.firstChild);
    while (container.children.length > MAX_CARDS) container.lastElementChild.remove();
    $("latest").textContent = alert.transaction_id;
    renderStats();
  }

  function renderStats() {
    const now = Date.now();
    const stats = state.stats;
    const after = stats
      ? state.remembered.filter((item) => compareIds(item.id, stats.as_of) > 0)
      : state.remembered;
    const recent = after.filter((item) => now - item.detectedAt <= HOUR_MS).length;
    const total = (stats ? stats.total : 0) + after.length;
    const lastHour = (stats ? stats.last_hour : 0) + recent;
    $("total").textContent = total.toLocaleString();
    const capped = stats && stats.last_hour_capped ? "+" : "";
    $("last-hour").textContent = `${lastHour.toLocaleString()}${capped}`;
  }

  function handle(message) {
    switch (message.type) {
      case "alert":
        addAlert(message.id, message.alert);
        break;
      case "stats":
        state.stats = message;
        renderStats();
        break;
      case "status":
        if (message.stream === "down") {
          setStatus("degraded", "Connected, but the alert stream is unavailable: retrying");
        } else {
          setStatus("connected", "Connected to fraud alert system");
        }
        break;
      default:
        break;
    }
  }

  function connect() {
    const url = new URL("/ws", window.location.href);
    url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
    if (state.lastId !== null) url.searchParams.set("after", state.lastId);
    const socket = new WebSocket(url);
    socket.onopen = () => {
      state.retryMs = 500;
      setStatus("connected", "Connected to fraud alert system");
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (_err) {
        return;
      }
      handle(message);
    };
    socket.onclose = (event) => {
      if (event.code === REFUSED) {
        // The dashboard said no (a wrong or rotated token, a bad request): asking again
        // would get the same answer, so the page stops and says what to do.
        setStatus("refused", `Refused by the dashboard: ${event.reason || "not allowed"}. Fix that, then reload the page.`);
        return;
      }
      if (event.code === TRY_LATER) state.retryMs = Math.max(state.retryMs, BUSY_RETRY_MS);
      const delay = Math.round(state.retryMs * (0.75 + Math.random() * 0.5));
      state.retryMs = Math.min(state.retryMs * 2, event.code === TRY_LATER ? BUSY_RETRY_MS : 10000);
      const why = event.code === TRY_LATER && event.reason ? ` (${event.reason})` : "";
      setStatus("disconnected", `Disconnected from fraud alert system${why}: reconnecting in ${(delay / 1000).toFixed(1)} s`);
      window.setTimeout(connect, delay);
    };
  }

  window.setInterval(renderStats, 30 * 1000);
  connect();
})();
