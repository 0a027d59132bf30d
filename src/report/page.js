// mable-pipeline run report: the batch waterfall, picking a batch, and the
// operator-graph toggle. Everything else in the page is static SVG.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var SPAN = 7;

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function group(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }
  function ms(us) {
    if (us === 0) return '0';
    var v = us / 1000;
    var a = Math.abs(v);
    if (a >= 1000) return (v / 1000).toFixed(2) + ' s';
    if (a >= 100) return v.toFixed(0) + ' ms';
    if (a >= 10) return v.toFixed(1) + ' ms';
    if (a >= 1) return v.toFixed(2) + ' ms';
    return v.toFixed(3) + ' ms';
  }
  function niceStep(max, parts) {
    if (!(max > 0)) return 1;
    var raw = max / parts;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  }

  var batchInfo = {};
  data.batches.forEach(function (b) { batchInfo[b[0]] = b; });
  var kept = Object.keys(data.detail).map(Number).sort(function (a, b) { return a - b; });

  function drawWaterfall(id) {
    var d = data.detail[id];
    var box = document.getElementById('waterfall-svg');
    var caption = document.getElementById('waterfall-caption');
    if (!d) {
      box.innerHTML = '';
      caption.textContent = 'No stage rows for batch ' + id + '.';
      return;
    }
    var s = d.s;
    var n = s.length / SPAN;
    var workFrom = Infinity, workTo = 0, busyAll = 0;
    for (var i = 0; i < n; i++) {
      workFrom = Math.min(workFrom, s[i * SPAN + 2]);
      workTo = Math.max(workTo, s[i * SPAN + 2] + s[i * SPAN + 3]);
      busyAll += s[i * SPAN + 4];
    }
    if (!(workFrom < Infinity)) workFrom = 0;
    // Fit: the axis spans the stages' work only, not the wait around it.
    var fit = document.getElementById('wf-fit');
    var t0 = fit && fit.checked ? workFrom : 0;
    var tmax = Math.max(fit && fit.checked ? workTo : Math.max(d.end, workTo), t0 + 1);
    var stages = data.stages.length;
    var perWorker = stages * data.workers <= 80;
    var rowsPer = perWorker ? data.workers : 1;
    var rowH = perWorker ? (data.workers > 1 ? 15 : 20) : 22;
    var stageGap = perWorker && data.workers > 1 ? 6 : 0;
    var left = 250, right = 150, top = 26;
    var W = 1100, pw = W - left - right;
    var H = top + stages * (rowsPer * rowH + stageGap) + 10;
    var x = function (us) { return left + (us - t0) / (tmax - t0) * pw; };
    var width = function (us) { return us / (tmax - t0) * pw; };
    var out = [];
    out.push('<svg viewBox="0 0 ' + W + ' ' + H + '" width="' + W + '" height="' + H +
      '" class="chart waterfall" data-batch="' + id + '" role="img" aria-label="batch waterfall">');
    var step = niceStep(tmax - t0, 6);
    for (var t = Math.ceil(t0 / step) * step; t <= tmax + step / 2; t += step) {
      out.push('<line class="grid" x1="' + x(t) + '" y1="' + (top - 4) + '" x2="' + x(t) + '" y2="' + H + '"/>');
      out.push('<text class="tick" text-anchor="middle" x="' + x(t) + '" y="' + (top - 10) + '">' + ms(t) + '</text>');
    }
    var rowTop = function (stage, worker) {
      return top + stage * (rowsPer * rowH + stageGap) + (perWorker ? worker : 0) * rowH;
    };
    for (var st = 0; st < stages; st++) {
      var y0 = rowTop(st, 0);
      if (st % 2 === 0) {
        out.push('<rect class="band" x="0" y="' + (y0 - stageGap / 2) + '" width="' + W + '" height="' +
          (rowsPer * rowH + stageGap) + '"/>');
      }
      out.push('<text class="row-label" text-anchor="end" x="' + (left - (perWorker && data.workers > 1 ? 40 : 8)) +
        '" y="' + (y0 + rowH / 2 + 4) + '">' + esc(data.stages[st].p) + '</text>');
      if (perWorker && data.workers > 1) {
        for (var w = 0; w < data.workers; w++) {
          out.push('<text class="tick" text-anchor="end" x="' + (left - 8) + '" y="' + (rowTop(st, w) + rowH - 4) +
            '">w' + w + '</text>');
        }
      }
    }
    for (i = 0; i < n; i++) {
      var o = i * SPAN;
      var stg = s[o], wk = s[o + 1], start = s[o + 2], len = s[o + 3], busy = s[o + 4];
      var y = rowTop(stg, wk) + 2;
      var h = rowH - 4;
      var colour = data.colours[stg % data.colours.length];
      var title = esc(data.stages[stg].p) + ' · worker ' + wk + ': ' + ms(start) + ' → ' + ms(start + len) +
        ' after entry, busy ' + ms(busy) + '; ' + group(s[o + 5]) + ' → ' + group(s[o + 6]) + ' records';
      out.push('<rect class="span" x="' + x(start) + '" y="' + y + '" width="' + Math.max(1.5, width(len)) +
        '" height="' + h + '" fill="' + colour + '"><title>' + title + '</title></rect>');
      out.push('<rect class="span-busy" x="' + x(start) + '" y="' + (y + h - 4) + '" width="' +
        Math.max(1, width(busy)) + '" height="4" fill="' + colour + '"/>');
    }
    if (d.end >= 0 && d.end <= tmax) {
      out.push('<line class="probe" x1="' + x(d.end) + '" y1="' + (top - 4) + '" x2="' + x(d.end) + '" y2="' + H + '"/>');
      out.push('<text class="mark-label" x="' + (x(d.end) + 6) + '" y="' + (top + 10) + '">probe passed</text>');
      out.push('<text class="mark-label" x="' + (x(d.end) + 6) + '" y="' + (top + 24) + '">' + ms(d.end) + '</text>');
    }
    out.push('</svg>');
    box.innerHTML = out.join('');
    var info = batchInfo[id];
    var lat = info && info[1] >= 0 ? ' · latency ' + info[1].toFixed(3) + ' ms' : '';
    var recs = info ? ' · ' + group(info[2]) + ' records' : '';
    caption.textContent = 'Batch ' + id + (id === data.slowest ? ' (the slowest)' : '') + recs + lat +
      ' · the stages worked from ' + ms(workFrom) + ' to ' + ms(workTo) + ' after the batch entered, busy ' +
      ms(busyAll) + ' in all' + (perWorker ? '' : ' · all workers of a stage on one row');
    var sel = document.getElementById('wf-batch');
    if (sel && sel.value !== String(id)) sel.value = String(id);
  }

  function nearestKept(id) {
    if (data.detail[id]) return id;
    var best = kept[0];
    kept.forEach(function (k) { if (Math.abs(k - id) < Math.abs(best - id)) best = k; });
    return best;
  }

  var sel = document.getElementById('wf-batch');
  if (sel) {
    kept.forEach(function (id) {
      var opt = document.createElement('option');
      var info = batchInfo[id];
      opt.value = String(id);
      opt.textContent = 'batch ' + id + (info && info[1] >= 0 ? ' · ' + info[1].toFixed(2) + ' ms' : '') +
        (id === data.slowest ? ' (slowest)' : '');
      sel.appendChild(opt);
    });
    sel.addEventListener('change', function () { drawWaterfall(Number(sel.value)); });
    var move = function (by) {
      var i = kept.indexOf(Number(sel.value)) + by;
      if (i >= 0 && i < kept.length) drawWaterfall(kept[i]);
    };
    document.getElementById('wf-prev').addEventListener('click', function () { move(-1); });
    document.getElementById('wf-next').addEventListener('click', function () { move(1); });
    document.getElementById('wf-slowest').addEventListener('click', function () { drawWaterfall(data.slowest); });
    document.getElementById('wf-fit').addEventListener('change', function () { drawWaterfall(Number(sel.value)); });
  }

  var pick = document.getElementById('latency-pick');
  var hover = document.getElementById('latency-hover');
  if (pick && data.lat.length) {
    var at = function (e) {
      var r = pick.getBoundingClientRect();
      var i = Math.floor((e.clientX - r.left) / r.width * data.lat.length);
      return data.lat[Math.max(0, Math.min(data.lat.length - 1, i))];
    };
    pick.addEventListener('mousemove', function (e) {
      var id = at(e);
      var info = batchInfo[id];
      hover.textContent = 'batch ' + id + ': ' + info[1].toFixed(3) + ' ms, ' + group(info[2]) +
        ' records — click to see its waterfall';
    });
    pick.addEventListener('mouseleave', function () { hover.textContent = ''; });
    pick.addEventListener('click', function (e) {
      drawWaterfall(nearestKept(at(e)));
      document.getElementById('waterfall').scrollIntoView({ behavior: 'smooth', block: 'start' });
    });
  }

  var toggle = document.getElementById('show-operators');
  if (toggle) {
    toggle.addEventListener('change', function () {
      document.getElementById('graph-stages').hidden = toggle.checked;
      document.getElementById('graph-operators').hidden = !toggle.checked;
    });
  }

  if (data.slowest >= 0) drawWaterfall(data.slowest);
  // Lay the page out now, so the time below includes it.
  void document.body.offsetHeight;
  document.documentElement.setAttribute('data-ready-ms', performance.now().toFixed(1));
})();
