/* Nansen search: reads the static index that publishing/search_index.py writes; no server, nothing sent.
   Words are lower-cased with ё folded into е, as there. For each word typed, the stems that begin with
   it (what is still being typed) and the longest stem it begins with (another case form of an indexed
   word) are matched; every word must match; names weigh most, then summaries, then tags. */
(function () {
  "use strict";
  var form = document.getElementById("search");
  if (!form || !window.fetch || !String.prototype.normalize) return;
  var input = document.getElementById("search-input");
  var message = document.getElementById("search-message");
  var list = document.getElementById("search-results");
  var more = document.getElementById("search-more");
  var root = form.dataset.root, lang = form.dataset.lang;
  var stopwords = new Set(form.dataset.stopwords.split(" "));
  var TERM_SHARDS = 256, CARD_SHARDS = 64, PREFIX = 2, PAGE = 10;
  var WORD = /[\p{L}\p{N}_]+/gu;
  var files = {}, found = [], shown = 0, asked = 0, timer = 0;

  function fnv1a(text) {
    var value = 0x811c9dc5;
    for (var char of text) value = Math.imul(value ^ char.codePointAt(0), 0x01000193) >>> 0;
    return value;
  }

  function load(path) {
    if (!files[path]) {
      files[path] = fetch(root + path)
        .then(function (response) { return response.ok ? response.json() : {}; })
        .catch(function () { delete files[path]; return {}; });
    }
    return files[path];
  }

  function words(text) {
    return (text.normalize("NFC").toLowerCase().match(WORD) || []).map(function (word) {
      return word.replace(/ё/g, "е");
    }).filter(function (word) { return Array.from(word).length >= PREFIX; });
  }

  /* {slug: score} of the entries one word matches. */
  function matches(word) {
    var shard = fnv1a(Array.from(word).slice(0, PREFIX).join("")) % TERM_SHARDS;
    return load("search/terms/" + shard + ".json").then(function (stems) {
      var scores = {}, longest = "";
      function take(postings, factor) {
        for (var slug in postings) scores[slug] = Math.max(scores[slug] || 0, postings[slug] * factor);
      }
      for (var stem in stems) {
        if (stem.length > word.length && stem.startsWith(word)) take(stems[stem], 1);
        else if (word.startsWith(stem) && stem.length > longest.length) longest = stem;
      }
      if (longest.length >= Math.min(word.length, 3)) take(stems[longest], 2);
      return scores;
    });
  }

  function both(left, right) {
    var scores = {};
    for (var slug in right) if (slug in left) scores[slug] = left[slug] + right[slug];
    return scores;
  }

  function search(query) {
    var ask = ++asked;
    var terms = words(query).filter(function (word) { return !stopwords.has(word); });
    if (!terms.length) {
      found = []; shown = 0; list.replaceChildren(); message.textContent = ""; more.hidden = true;
      return;
    }
    Promise.all(terms.map(matches)).then(function (each) {
      if (ask !== asked) return;
      var scores = each.reduce(both);
      found = Object.keys(scores).sort(function (a, b) { return scores[b] - scores[a] || (a < b ? -1 : 1); });
      shown = 0;
      list.replaceChildren();
      message.textContent = form.dataset.found.replace("[COUNT]", found.length).replace("[SEARCH_TERM]", query.trim());
      show(ask, false);
    });
  }

  /* The next PAGE results, each with its name and the start of its summary in the page's language. */
  function show(ask, focus) {
    var slugs = found.slice(shown, shown + PAGE);
    shown += slugs.length;
    more.hidden = true;
    Promise.all(slugs.map(function (slug) {
      return load("search/" + lang + "/cards/" + (fnv1a(slug) % CARD_SHARDS) + ".json");
    })).then(function (cards) {
      if (ask !== asked) return;
      slugs.forEach(function (slug, i) {
        var card = cards[i][slug] || [slug, ""];
        var item = document.createElement("li");
        var link = document.createElement("a");
        var excerpt = document.createElement("p");
        item.className = "result";
        link.href = root + lang + "/entries/" + slug + ".html";
        link.textContent = card[0];
        excerpt.textContent = card[1];
        item.append(link, excerpt);
        list.append(item);
        if (focus && i === 0) link.focus();
      });
      more.hidden = shown >= found.length;
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(timer);
    search(input.value);
  });
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var url = new URL(location.href);
      if (input.value.trim()) url.searchParams.set("q", input.value.trim()); else url.searchParams.delete("q");
      try { history.replaceState(null, "", url); } catch (error) { /* a file: URL may refuse it */ }
      search(input.value);
    }, 150);
  });
  more.addEventListener("click", function () { show(asked, true); });

  document.getElementById("no-search").hidden = true;
  form.hidden = false;
  var given = new URL(location.href).searchParams.get("q");
  if (given) {
    input.value = given;
    search(given);
  }
})();
