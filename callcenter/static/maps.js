/* Offline maps (Leaflet, no tiles): towns and communities from the Station table, workers as
   coloured circles that follow their status.  Text from the server is always set as text. */
(function () {
  "use strict";

  function textNode(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span;
  }

  function center(el) {
    var parts = (el.dataset.center || "30.70,121.04").split(",").map(Number);
    return [parts[0], parts[1]];
  }

  function baseMap(el, zoom) {
    var map = L.map(el, { attributionControl: false, zoomSnap: 0.5 }).setView(center(el), zoom);
    fetch(el.dataset.stationsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) { drawStations(map, data.stations || []); });
    return map;
  }

  function drawStations(map, stations) {
    stations.forEach(function (s) {
      if (s.level === "town") {
        L.circle([s.lat, s.lon], { radius: 2600, color: "#777", weight: 1, fillColor: "#ccc", fillOpacity: 0.15,
                                   interactive: false, className: "town town-" + s.code }).addTo(map);
        L.tooltip({ permanent: true, direction: "center", className: "town-label" })
          .setLatLng([s.lat + 0.012, s.lon]).setContent(textNode(s.name)).addTo(map);
      } else if (s.level === "community") {
        L.circleMarker([s.lat, s.lon], { radius: 3, color: "#555", weight: 1, fillColor: "#999", fillOpacity: 1,
                                         className: "community" })
          .bindTooltip(textNode(s.name)).addTo(map);
      } else {
        L.circleMarker([s.lat, s.lon], { radius: 7, color: "#333", weight: 2, fillColor: "#fff", fillOpacity: 1,
                                         className: "city" })
          .bindTooltip(textNode(s.name), { permanent: true, direction: "right" }).addTo(map);
      }
    });
  }

  function providerMap(el) {
    var map = baseMap(el, 11);
    var markers = {};
    function update(workers) {
      var counts = { busy: 0, dispatched: 0, idle: 0, off_duty: 0 };
      var seen = {};
      workers.forEach(function (w) {
        counts[w.status] = (counts[w.status] || 0) + 1;
        seen[w.id] = true;
        var marker = markers[w.id];
        if (!marker) {
          marker = L.circleMarker([w.lat, w.lon], { radius: 6, weight: 1, color: "#222", fillOpacity: 0.9,
                                                     className: "worker worker-" + w.id });
          marker.bindTooltip(textNode(w.name + " · " + w.company));
          marker.addTo(map);
          markers[w.id] = marker;
        }
        marker.setLatLng([w.lat, w.lon]);
        marker.setStyle({ fillColor: w.colour });
        var path = marker.getElement();
        if (path) { path.setAttribute("data-status", w.status); }
      });
      Object.keys(markers).forEach(function (id) {
        if (!seen[id]) { map.removeLayer(markers[id]); delete markers[id]; }
      });
      Object.keys(counts).forEach(function (k) {
        var c = document.getElementById("count-" + k);
        if (c) { c.textContent = counts[k]; }
      });
      el.dataset.updated = String(Date.now());
    }
    function poll() {
      fetch(el.dataset.workersUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { workers: null }; })
        .then(function (data) { if (data.workers) { update(data.workers); } })
        .catch(function () { /* keep the last picture; try again */ })
        .finally(function () { setTimeout(poll, Number(el.dataset.pollMs) || 1500); });
    }
    poll();
  }

  function pickerMap(el) {
    var lat = document.getElementById("lat"), lon = document.getElementById("lon");
    var text = document.getElementById("position-text");
    var map = baseMap(el, 11);
    var marker = null;
    function place(la, lo, move) {
      if (!marker) { marker = L.circleMarker([la, lo], { radius: 7, color: "#c00", fillColor: "#f33", fillOpacity: 0.9 }).addTo(map); }
      marker.setLatLng([la, lo]);
      if (move) { map.setView([la, lo], 13); }
    }
    function set(la, lo) {
      lat.value = la.toFixed(6); lon.value = lo.toFixed(6);
      if (text) { text.textContent = la.toFixed(5) + ", " + lo.toFixed(5); }
      place(la, lo, false);
    }
    if (lat.value && lon.value) { place(Number(lat.value), Number(lon.value), true); }
    if (el.dataset.editable === "1") {
      map.on("click", function (e) { set(e.latlng.lat, e.latlng.lng); });
      var station = document.getElementById("station_id");
      if (station) {
        station.addEventListener("change", function () {
          var opt = station.options[station.selectedIndex];
          if (opt && opt.dataset.lat) {
            map.setView([Number(opt.dataset.lat), Number(opt.dataset.lon)], 14);
            if (!lat.value) { set(Number(opt.dataset.lat), Number(opt.dataset.lon)); }
          }
        });
      }
      var locate = document.getElementById("locate");
      if (locate && navigator.geolocation) {
        locate.addEventListener("click", function () {
          navigator.geolocation.getCurrentPosition(function (p) {
            set(p.coords.latitude, p.coords.longitude);
            map.setView([p.coords.latitude, p.coords.longitude], 14);
          });
        });
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("provider-map");
    if (el) { providerMap(el); }
    ["ticket-map", "worker-map"].forEach(function (id) {
      var picker = document.getElementById(id);
      if (picker) { pickerMap(picker); }
    });
  });
})();
