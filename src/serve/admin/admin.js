// admin.js: the dashboard's one script (embedded in the binary): the live
// feed. Every value from an event is shown with textContent, never as HTML:
// names come from Spotify and users, and are hostile.
"use strict";
(function () {
  var feed = document.getElementById("feed");
  if (!feed) return;
  var body = feed.tBodies[0], state = document.getElementById("feed-state");
  var MAX_ROWS = 200;
  var user = feed.dataset.user;
  var src = new EventSource("/events" + (user ? "?user=" + encodeURIComponent(user) : ""));

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
  }
  function track(ev) {
    var t = ev && ev.track;
    if (!t || typeof t.name !== "string") return ev && ev.reason ? ev.reason : "";
    var artists = Array.isArray(t.artists) ? t.artists.filter(function (a) { return typeof a === "string"; }) : [];
    return t.name + (artists.length ? " \u2014 " + artists.join(", ") : "");
  }
  src.onopen = function () { state.textContent = "connected"; };
  src.onerror = function () { state.textContent = "reconnecting"; };
  src.onmessage = function (m) {
    var o;
    try { o = JSON.parse(m.data); } catch (e) { return; }
    var row = document.createElement("tr");
    row.className = "live-event";
    row.dataset.type = String(o.type);
    var at = o.event && typeof o.event.at === "number" ? new Date(o.event.at) : new Date();
    cell(row, at.toLocaleTimeString());
    cell(row, o.app);
    cell(row, o.user);
    cell(row, o.type);
    cell(row, track(o.event));
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
  };
})();
