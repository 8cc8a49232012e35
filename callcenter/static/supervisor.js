/* Supervisors' live pages: the wallboard, the big screen (ECharts) and the report builder.
   Every value from the server is set as text (textContent) or handed to ECharts as data. */
(function () {
  "use strict";

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
  }
  function setText(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value === null || value === undefined ? "-" : String(value); }
  }
  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "-" : String(text);
    row.appendChild(td);
  }
  function seconds(s) {
    var m = Math.floor(s / 60);
    return m ? m + ":" + String(s % 60).padStart(2, "0") : s + "s";
  }
  function clock() { return new Date().toLocaleTimeString(); }
  function poller(el, load) {
    function tick() {
      getJSON(el.dataset.url).then(load).catch(function () { /* keep the last picture */ })
        .finally(function () { setTimeout(tick, Number(el.dataset.pollMs) || 3000); });
    }
    tick();
  }

  /* --- wallboard ------------------------------------------------------------------------------ */
  function wallboard(el) {
    var labels = JSON.parse(document.getElementById("wb-labels").textContent);
    poller(el, function (d) {
      var waiting = 0, longest = 0;
      var body = document.getElementById("wb-queues");
      body.replaceChildren();
      Object.keys(d.queues).forEach(function (q) {
        var f = d.queues[q];
        waiting += f.waiting; longest = Math.max(longest, f.longest_wait_seconds);
        var tr = document.createElement("tr"); tr.dataset.queue = q;
        cell(tr, q); cell(tr, f.waiting); cell(tr, seconds(f.longest_wait_seconds)); body.appendChild(tr);
      });
      var agents = document.getElementById("wb-agents");
      agents.replaceChildren();
      Object.keys(d.agents).forEach(function (s) {
        var tr = document.createElement("tr"); tr.dataset.state = s;
        cell(tr, labels[s] || s); cell(tr, d.agents[s]); agents.appendChild(tr);
      });
      setText("wb-waiting", waiting); setText("wb-longest", seconds(longest));
      setText("wb-sl", d.service_level === null ? "-" : d.service_level + "%");
      setText("wb-abandon", d.abandon_rate === null ? "-" : d.abandon_rate + "%");
      setText("wb-emergencies", d.open_emergencies); setText("wb-offered", d.offered);
      if (d.alerts) {
        setText("wb-alerts", d.alerts.open);
        var list = document.getElementById("wb-alert-list");
        if (list) {
          list.replaceChildren();
          d.alerts.latest.forEach(function (a) {
            var tr = document.createElement("tr"); tr.dataset.kind = a.kind;
            cell(tr, labels[a.kind] || a.kind); cell(tr, a.ticket); cell(tr, new Date(a.created_at).toLocaleTimeString());
            list.appendChild(tr);
          });
        }
      }
      setText("wb-updated", clock());
      el.dataset.updated = String(Date.now());
    });
  }

  /* --- big screen ----------------------------------------------------------------------------- */
  var TEXT = "#dce9ff", GRID = "#1f3d66";
  function chart(id) { return echarts.init(document.getElementById(id), null, { renderer: "canvas" }); }
  function bigscreen(el) {
    var demand = chart("chart-demand"), top = chart("chart-top"), trend = chart("chart-trend"),
        satisfaction = chart("chart-satisfaction");
    var days = ["一", "二", "三", "四", "五", "六", "日"];
    poller(el, function (d) {
      setText("bs-calls", d.calls_today); setText("bs-tickets", d.tickets_today);
      var s = d.satisfaction;
      setText("bs-satisfaction", s.satisfied_percent === null ? "-" : s.satisfied_percent + "%");
      demand.setOption({ animation: false, tooltip: { trigger: "item" },
        series: [{ type: "pie", radius: ["35%", "68%"], data: d.demand, label: { color: TEXT, fontSize: 14 } }] });
      var names = d.top_sub_services.map(function (x) { return x.name; }).reverse();
      top.setOption({ animation: false, grid: { left: 130, right: 30, top: 10, bottom: 24 },
        xAxis: { type: "value", axisLabel: { color: TEXT }, splitLine: { lineStyle: { color: GRID } } },
        yAxis: { type: "category", data: names, axisLabel: { color: TEXT, fontSize: 13 } },
        series: [{ type: "bar", data: d.top_sub_services.map(function (x) { return x.value; }).reverse(),
                   itemStyle: { color: "#35a0ff" }, label: { show: true, position: "right", color: TEXT } }] });
      trend.setOption({ animation: false, legend: { top: 0, right: 10, textStyle: { color: TEXT } }, tooltip: { trigger: "axis" },
        grid: { left: 50, right: 20, top: 36, bottom: 28 },
        xAxis: { type: "category", data: days, axisLabel: { color: TEXT } },
        yAxis: { type: "value", axisLabel: { color: TEXT }, splitLine: { lineStyle: { color: GRID } } },
        series: [{ name: el.dataset.thisWeek, type: "line", data: d.trend.this_week, smooth: true, itemStyle: { color: "#35d07f" } },
                 { name: el.dataset.lastWeek, type: "line", data: d.trend.last_week, smooth: true,
                   itemStyle: { color: "#8fa8c8" }, lineStyle: { type: "dashed" } }] });
      var scores = [1, 2, 3, 4, 5].map(function (k) { return s.by_score[k] || 0; });
      satisfaction.setOption({ animation: false, grid: { left: 50, right: 20, top: 30, bottom: 28 },
        title: { text: s.average === null ? "-" : "★ " + s.average, right: 10, top: 0, textStyle: { color: "#ffd34d", fontSize: 20 } },
        xAxis: { type: "category", data: ["1", "2", "3", "4", "5"], axisLabel: { color: TEXT } },
        yAxis: { type: "value", axisLabel: { color: TEXT }, splitLine: { lineStyle: { color: GRID } } },
        series: [{ type: "bar", data: scores, itemStyle: { color: "#ffb547" } }] });
      setText("bs-updated", clock());
      el.dataset.updated = String(Date.now());
    });
  }

  /* --- reports -------------------------------------------------------------------------------- */
  function reports() {
    var chunks = JSON.parse(document.getElementById("report-chunks").textContent);
    var labels = JSON.parse(document.getElementById("report-labels").textContent);
    var progress = document.getElementById("report-progress"), status = document.getElementById("report-status");
    var merged = {};
    function add(c) {
      var k = c.period + "|" + c.key;
      var m = merged[k] || (merged[k] = { period: c.period, key: c.key, volume: 0, sla_known: 0, sla_met: 0,
                                          score_sum: 0, score_count: 0, repeats: 0 });
      ["volume", "sla_known", "sla_met", "score_sum", "score_count", "repeats"].forEach(function (f) { m[f] += c[f]; });
    }
    function render() {
      var rows = Object.keys(merged).map(function (k) { return merged[k]; })
        .sort(function (a, b) { return a.period < b.period ? -1 : a.period > b.period ? 1 : b.volume - a.volume; });
      var body = document.querySelector("#report-table tbody");
      body.replaceChildren();
      var totals = {};
      rows.forEach(function (r) {
        var tr = document.createElement("tr");
        var name = r.key === null ? "-" : (labels[r.key] || String(r.key));
        cell(tr, r.period); cell(tr, name); cell(tr, r.volume);
        cell(tr, r.sla_known ? (100 * r.sla_met / r.sla_known).toFixed(1) + "%" : "-");
        cell(tr, r.score_count ? (r.score_sum / r.score_count).toFixed(2) : "-");
        cell(tr, r.repeats); body.appendChild(tr);
        totals[name] = (totals[name] || 0) + r.volume;
      });
      var names = Object.keys(totals).sort(function (a, b) { return totals[b] - totals[a]; }).slice(0, 15);
      echarts.init(document.getElementById("report-chart")).setOption({ animation: false, tooltip: {},
        grid: { left: 60, right: 20, top: 20, bottom: 60 },
        xAxis: { type: "category", data: names, axisLabel: { rotate: 30 } }, yAxis: { type: "value" },
        series: [{ type: "bar", data: names.map(function (n) { return totals[n]; }), itemStyle: { color: "#14508c" } }] });
    }
    var i = 0;
    function next() {
      if (i >= chunks.length) { status.textContent = "✓ " + chunks.length + "/" + chunks.length;
                                document.getElementById("report-table").dataset.done = "1"; return; }
      getJSON(chunks[i].url).then(function (d) {
        d.cells.forEach(add); i += 1; progress.value = i;
        status.textContent = i + "/" + chunks.length; render(); next();
      }).catch(function (e) { status.textContent = "✗ " + e.message; });
    }
    next();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var wb = document.getElementById("wallboard");
    if (wb) { wallboard(wb); }
    var bs = document.getElementById("bigscreen");
    if (bs) { bigscreen(bs); }
    if (document.getElementById("report-chunks")) { reports(); }
  });
})();
