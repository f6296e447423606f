(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('case-data').textContent);
  var cases = data.cases;
  cases.forEach(function (c) {
    var parts = [c.id, c.suite, c.desc || '', c.base.err || '', c.cand.err || '', c.base.out || '', c.cand.out || ''];
    if (c.diff) { c.diff.forEach(function (s) { parts.push(s[1]); }); }
    c.text = parts.join(' ').toLowerCase();
  });
  var PAGE = 100;
  var state = { status: 'all', suite: 'all', q: '', page: 0 };
  var list = document.getElementById('cases');
  var statusSel = document.getElementById('f-status');
  var suiteSel = document.getElementById('f-suite');
  var search = document.getElementById('f-search');
  var counter = document.getElementById('f-count');

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function fmt(rate) { return rate === null ? 'n/a' : (rate * 100).toFixed(0) + '%'; }

  function matches(c) {
    if (state.status !== 'all') {
      if (state.status === 'changed') {
        if (c.status !== 'regressed' && c.status !== 'fixed' && c.status !== 'error') { return false; }
      } else if (c.status !== state.status) { return false; }
    }
    if (state.suite !== 'all' && c.suite !== state.suite) { return false; }
    if (state.q) { return c.text.indexOf(state.q.toLowerCase()) !== -1; }
    return true;
  }

  function output(c, which) {
    var pre = el('pre', 'out');
    if (c.diff === null) {
      var s = which === 'b' ? c.base : c.cand;
      pre.appendChild(s.err ? el('span', 'err', 'error: ' + s.err) : document.createTextNode(s.out || ''));
      return pre;
    }
    c.diff.forEach(function (span) {
      var tag = span[0];
      if (tag === 'e') { pre.appendChild(document.createTextNode(span[1])); }
      else if (tag === 'd' && which === 'b') { pre.appendChild(el('del', null, span[1])); }
      else if (tag === 'i' && which === 'c') { pre.appendChild(el('ins', null, span[1])); }
    });
    return pre;
  }

  function side(c, which, title) {
    var s = which === 'b' ? c.base : c.cand;
    var box = el('div', 'side');
    var head = el('div', 'meta', title + ' · pass ' + fmt(s.rate) + ' of ' + s.n + ' · ' + s.lat + ' ms · ' + s.tok + ' tokens' +
      (s.cost === null ? ' · cost unknown' : ' · $' + s.cost.toFixed(6)));
    box.appendChild(head);
    box.appendChild(output(c, which));
    if (s.cut) { box.appendChild(el('div', 'cut', 'output cut; the full text is in results.jsonl')); }
    var ul = el('ul', 'asserts');
    s.asserts.forEach(function (a) {
      ul.appendChild(el('li', a[1] ? 'ok' : 'no', (a[1] ? '✓ ' : '✗ ') + a[0] + (a[2] ? ': ' + a[2] : '')));
    });
    box.appendChild(ul);
    return box;
  }

  function caseView(c) {
    var sec = el('section', 'case ' + c.status);
    sec.id = 'case-' + c.key;
    var h = el('h3');
    h.appendChild(el('span', 'badge ' + c.status, c.label));
    var link = el('a', 'mono', c.suite + ' / ' + c.id);
    link.href = '#case=' + encodeURIComponent(c.key);
    h.appendChild(link);
    h.appendChild(el('span', 'meta', data.candidates[c.ci]));
    if (c.desc) { h.appendChild(el('span', 'meta', c.desc)); }
    sec.appendChild(h);
    if (c.step) { sec.appendChild(el('div', 'diverge', 'The trajectories first differ at step ' + c.step + '.')); }
    var grid = el('div', 'sides');
    grid.appendChild(side(c, 'b', 'baseline'));
    grid.appendChild(side(c, 'c', 'candidate'));
    sec.appendChild(grid);
    return sec;
  }

  function render(focusKey) {
    if (focusKey && !cases.some(function (c) { return c.key === focusKey && matches(c); })) {
      // A link to a case shows it even when the current filters would hide it.
      state.status = 'all'; state.suite = 'all'; state.q = '';
      statusSel.value = 'all'; suiteSel.value = 'all'; search.value = '';
    }
    var shown = cases.filter(matches);
    var pages = Math.max(1, Math.ceil(shown.length / PAGE));
    if (focusKey) {
      var at = shown.findIndex(function (c) { return c.key === focusKey; });
      if (at >= 0) { state.page = Math.floor(at / PAGE); }
    }
    state.page = Math.min(state.page, pages - 1);
    list.replaceChildren();
    var slice = shown.slice(state.page * PAGE, (state.page + 1) * PAGE);
    slice.forEach(function (c) { list.appendChild(caseView(c)); });
    if (!slice.length) { list.appendChild(el('div', 'empty', 'No case matches the filters.')); }
    counter.textContent = shown.length + ' of ' + cases.length + ' cases';
    var pager = document.getElementById('pager');
    pager.replaceChildren();
    if (pages > 1) {
      var prev = el('button', null, '← previous');
      prev.disabled = state.page === 0;
      prev.addEventListener('click', function () { state.page -= 1; render(); window.scrollTo(0, list.offsetTop); });
      var next = el('button', null, 'next →');
      next.disabled = state.page >= pages - 1;
      next.addEventListener('click', function () { state.page += 1; render(); window.scrollTo(0, list.offsetTop); });
      pager.appendChild(prev);
      pager.appendChild(el('span', 'meta', 'page ' + (state.page + 1) + ' of ' + pages));
      pager.appendChild(next);
    }
    if (focusKey) {
      var target = document.getElementById('case-' + focusKey);
      if (target) { target.scrollIntoView(); }
    }
  }

  function writeHash() {
    var parts = [];
    if (state.status !== 'all') { parts.push('status=' + encodeURIComponent(state.status)); }
    if (state.suite !== 'all') { parts.push('suite=' + encodeURIComponent(state.suite)); }
    if (state.q) { parts.push('q=' + encodeURIComponent(state.q)); }
    history.replaceState(null, '', parts.length ? '#' + parts.join('&') : location.pathname);
  }

  function readHash() {
    var focus = null;
    location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
      var i = kv.indexOf('=');
      if (i < 0) { return; }
      var k = kv.slice(0, i);
      var v = decodeURIComponent(kv.slice(i + 1));
      if (k === 'status') { state.status = v; }
      else if (k === 'suite') { state.suite = v; }
      else if (k === 'q') { state.q = v; }
      else if (k === 'case') { focus = v; }
    });
    statusSel.value = state.status;
    suiteSel.value = state.suite;
    search.value = state.q;
    return focus;
  }

  data.suites.forEach(function (s) {
    var o = el('option', null, s);
    o.value = s;
    suiteSel.appendChild(o);
  });
  statusSel.addEventListener('change', function () { state.status = statusSel.value; state.page = 0; writeHash(); render(); });
  suiteSel.addEventListener('change', function () { state.suite = suiteSel.value; state.page = 0; writeHash(); render(); });
  search.addEventListener('input', function () { state.q = search.value; state.page = 0; writeHash(); render(); });
  window.addEventListener('hashchange', function () { render(readHash()); });
  render(readHash());
}());
