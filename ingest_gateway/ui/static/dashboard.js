// Live refresh for the Log Insight dashboard: polls the page's JSON endpoint and rebuilds the
// parts that change. Log text is hostile: every value goes in through text nodes or
// setAttribute, never through innerHTML, so markup in a log line stays text.
(function () {
  "use strict";

  var body = document.body;
  var api = body.getAttribute("data-api");
  var every = Number(body.getAttribute("data-refresh-ms")) || 5000;
  var SVG = "http://www.w3.org/2000/svg";
  if (!api) {
    return;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      node.setAttribute(name, String(attrs[name]));
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" || typeof child === "number"
        ? document.createTextNode(String(child)) : child);
    });
    return node;
  }

  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (name) {
      node.setAttribute(name, String(attrs[name]));
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  function td(text, cls) {
    return el("td", cls ? { "class": cls } : {}, [text]);
  }

  function safeClass(word) {
    return /^[a-z]+$/.test(word) ? word : "unknown";
  }

  function badge(level) {
    return el("span", { "class": "badge level-" + safeClass(level) }, [level]);
  }

  function sparkline(points, kind) {
    return svg("svg", {
      "class": "spark spark-" + kind, viewBox: "0 0 160 28", width: 160, height: 28,
      role: "img", "aria-label": kind + " per minute"
    }, [svg("polyline", { points: points })]);
  }

  function confidence(pct) {
    if (pct === null || pct === undefined) {
      return el("span", { "class": "muted" }, ["\u2014"]);
    }
    var meter = svg("svg", { "class": "meter", viewBox: "0 0 60 8", width: 60, height: 8 }, [
      svg("rect", { "class": "meter-track", x: 0, y: 0, width: 60, height: 8, rx: 2 }),
      svg("rect", { "class": "meter-fill", x: 0, y: 0, width: (pct * 0.6).toFixed(1), height: 8, rx: 2 })
    ]);
    return el("span", { "class": "confidence" }, [meter, " " + pct + "%"]);
  }

  function emptyRow(columns, text) {
    return el("tr", { "class": "empty" }, [el("td", { colspan: columns }, [text])]);
  }

  function fill(tableId, rows, columns, emptyText) {
    var table = document.getElementById(tableId);
    if (!table) {
      return;
    }
    var tbody = table.tBodies[0];
    tbody.replaceChildren.apply(tbody, rows.length ? rows : [emptyRow(columns, emptyText)]);
  }

  function setText(selector, value) {
    document.querySelectorAll(selector).forEach(function (node) {
      node.textContent = String(value);
    });
  }

  function renderOverview(data) {
    Object.keys(data.totals).forEach(function (name) {
      setText('[data-total="' + name + '"]', data.totals[name]);
    });
    fill("services", data.services.map(function (row) {
      return el("tr", { "data-service": row.service }, [
        td(row.service, "name"), td(row.records_per_min, "num"),
        el("td", {}, [sparkline(row.ingest_points, "ingest")]), td(row.records, "num"),
        td(row.errors_per_min, "num"), el("td", {}, [sparkline(row.error_points, "errors")]),
        td(row.errors, "num"), td(row.error_pct + "%", "num")
      ]);
    }), 8, "No records in the last " + data.filters.since + ".");
    fill("incidents", data.incidents.map(function (row) {
      var title = el("td", { "class": "title" }, [el("a", { href: row.url }, [row.title])]);
      if (row.kind !== "incident") {
        title.appendChild(document.createTextNode(" "));
        title.appendChild(el("span", { "class": "badge kind" }, [row.kind]));
      }
      title.appendChild(el("div", { "class": "template" }, [row.template]));
      var service = td(row.service, "name");
      if (row.affected.length) {
        service.appendChild(el("div", { "class": "affected" }, ["also " + row.affected.join(", ")]));
      }
      return el("tr", { "data-fingerprint": row.fingerprint, "data-service": row.service }, [
        el("td", {}, [badge(row.level)]), title, service, td(row.count, "num"),
        el("td", {}, [confidence(row.confidence_pct)]),
        el("td", { title: row.last_seen }, [row.last_seen_ago]), td(row.first_seen)
      ]);
    }), 7, "No incidents match these filters.");
    var bus = document.getElementById("bus");
    if (bus && !data.bus.error) {
      fill("bus", data.bus.topics.map(function (topic) {
        return el("tr", {}, [
          td(topic.topic, "name"), td(topic.messages, "num"), td(topic.partitions, "num")
        ]);
      }), 3, "");
    }
  }

  function renderIncident(data) {
    ["count", "batches", "first_seen", "last_seen"].forEach(function (name) {
      setText('[data-field="' + name + '"]', data.insight[name]);
    });
    fill("occurrences", data.occurrences.map(function (row) {
      var link = el("a", { href: row.run_url }, [el("code", {}, [row.batch_key])]);
      return el("tr", {}, [
        td(row.first_seen), td(row.last_seen), td(row.count, "num"), td(row.bursts, "num"),
        el("td", {}, [link])
      ]);
    }), 5, "");
  }

  var render = body.getAttribute("data-page") === "incident" ? renderIncident : renderOverview;
  var busy = false;
  var refreshes = 0;

  function refresh() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    var url = render === renderOverview ? api + window.location.search : api;
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        render(data);
        setText("#generated-at", data.generated_at);
        refreshes += 1;
        body.setAttribute("data-refreshes", String(refreshes));
        setText("#refresh-status", "live \u00b7 every " + Math.round(every / 1000) + "s");
      })
      .catch(function (error) {
        setText("#refresh-status", "refresh failed (" + error.message + "), retrying");
      })
      .finally(function () { busy = false; });
  }

  setText("#refresh-status", "live \u00b7 every " + Math.round(every / 1000) + "s");
  window.setInterval(refresh, every);
}());
