/* Nansen search: reads the static index that publishing/search_index.py writes; no server, nothing sent
   anywhere but this site. Words are lower-cased with ё folded into е, as there. A word the index holds
   matches every word of its stem (the index names each word's stem); a word it does not hold matches
   the words it begins and the stem of an indexed word much like it. Every word of a query but its
   stopwords must match; names weigh most, then summaries, then tags. */
(function () {
  "use strict";
  var TERM_SHARDS = 256, CARD_SHARDS = 64, PREFIX = 2, PAGE = 10;
  var WORD = /[\p{L}\p{N}_]+/gu;
  var own = Object.prototype.hasOwnProperty;

  function fnv1a(text) {
    var value = 0x811c9dc5;
    for (var char of text) value = Math.imul(value ^ char.codePointAt(0), 0x01000193) >>> 0;
    return value;
  }

  function words(text) {
    return (text.normalize("NFC").toLowerCase().match(WORD) || []).map(function (word) {
      return word.replace(/ё/g, "е");
    }).filter(function (word) { return Array.from(word).length >= PREFIX; });
  }

  function common(left, right) {
    var n = 0;
    while (n < left.length && left[n] === right[n]) n++;
    return n;
  }

  /* Map slug → score of the entries one word matches in its shard: when the index holds the word,
     those of its stem (as the database search); else those of the words it begins (being typed) and
     of the stem, begun by the word, of an indexed word that differs from it only in its last three
     letters or fewer («визами» meets «виз» of «визы», «organizations» «organ» of «organization»). */
  function matches(shard, word) {
    var postings = shard.words || {}, stems = shard.stems || {}, scores = new Map(), targets = new Set();
    function stemOf(other) { return own.call(stems, other) ? stems[other] : other; }
    var known = own.call(postings, word), other, stem;
    if (known) targets.add(stemOf(word));
    for (other in postings) {
      stem = stemOf(other);
      if (!known && stem.length >= 3 && word.startsWith(stem) && common(other, word) >= word.length - 3) {
        targets.add(stem);
      }
    }
    for (other in postings) {
      var factor = targets.has(stemOf(other)) ? 2 : 0;
      if (!known && !factor && other.length > word.length && other.startsWith(word)) factor = 1;
      if (!factor) continue;
      for (var slug in postings[other]) {
        scores.set(slug, Math.max(scores.get(slug) || 0, postings[other][slug] * factor));
      }
    }
    return scores;
  }

  /* Searches the index through `load(path)`, which resolves to a file's JSON ({} when there is none)
     and rejects when the index cannot be reached. `find(query)` resolves to the slugs found, best
     first, or null when the query has no word to search for. */
  function Finder(load, stopwords) {
    this.load = load;
    this.stopwords = stopwords;
  }
  Finder.prototype.find = function (query) {
    var stopwords = this.stopwords, load = this.load;
    var all = Array.from(new Set(words(query)));
    var required = all.filter(function (word) { return !stopwords.has(word); });
    if (!required.length) required = all;
    if (!required.length) return Promise.resolve(null);
    var optional = all.filter(function (word) { return required.indexOf(word) < 0; });
    function scores(word) {
      var shard = fnv1a(Array.from(word).slice(0, PREFIX).join("")) % TERM_SHARDS;
      return load("search/terms/" + shard + ".json").then(function (content) { return matches(content, word); });
    }
    return Promise.all(required.concat(optional).map(scores)).then(function (each) {
      var found = each.slice(0, required.length).reduce(function (left, right) {
        var both = new Map();
        left.forEach(function (score, slug) { if (right.has(slug)) both.set(slug, score + right.get(slug)); });
        return both;
      });
      each.slice(required.length).forEach(function (extra) {
        found.forEach(function (score, slug) { found.set(slug, score + (extra.get(slug) || 0)); });
      });
      return Array.from(found.keys()).sort(function (a, b) {
        return found.get(b) - found.get(a) || (a < b ? -1 : 1);
      });
    });
  };
  window.NansenSearch = { Finder: Finder, words: words, fnv1a: fnv1a };

  var form = document.getElementById("search");
  if (!form || !window.fetch || !window.Map || !String.prototype.normalize) return;
  var input = document.getElementById("search-input");
  var message = document.getElementById("search-message");
  var list = document.getElementById("search-results");
  var more = document.getElementById("search-more");
  var root = form.dataset.root, lang = form.dataset.lang;
  var files = new Map(), found = [], shown = 0, asked = 0, timer = 0;

  function load(path) {
    if (!files.has(path)) {
      files.set(path, fetch(root + path).then(function (response) {
        if (response.status === 404) return {};
        if (!response.ok) throw new Error(path + ": HTTP " + response.status);
        return response.json();
      }).catch(function (error) { files.delete(path); throw error; }));
    }
    return files.get(path);
  }
  var finder = new Finder(load, new Set(form.dataset.stopwords.split(" ")));

  function said(template, count, query) {
    return template.replace("[COUNT]", function () { return String(count); })
      .replace("[SEARCH_TERM]", function () { return query; });
  }

  function search(query) {
    var ask = ++asked;
    found = []; shown = 0; more.hidden = true;
    query = query.trim();
    if (!query) { list.replaceChildren(); message.textContent = ""; return; }
    finder.find(query).then(function (slugs) {
      if (ask !== asked) return;
      found = slugs || [];
      list.replaceChildren();
      message.textContent = said(form.dataset.found, found.length, query);
      show(ask, false);
    }, function () {
      if (ask !== asked) return;
      list.replaceChildren();
      message.textContent = form.dataset.failed;
    });
  }

  /* The next PAGE results, each with its name and the start of its summary in the page's language. */
  function show(ask, focus) {
    var slugs = found.slice(shown, shown + PAGE);
    shown += slugs.length;
    more.hidden = true;
    Promise.all(slugs.map(function (slug) {
      return load("search/" + lang + "/cards/" + (fnv1a(slug) % CARD_SHARDS) + ".json")
        .catch(function () { return {}; });
    })).then(function (cards) {
      if (ask !== asked) return;
      slugs.forEach(function (slug, i) {
        var card = own.call(cards[i], slug) ? cards[i][slug] : [slug, "", []];
        var item = document.createElement("li");
        var link = document.createElement("a");
        var excerpt = document.createElement("p");
        item.className = "result";
        link.href = root + lang + "/entries/" + slug + ".html";
        link.textContent = card[0];
        excerpt.textContent = card[1];
        item.append(link);
        (card[2] || []).forEach(function (badge) {
          var label = document.createElement("p");
          label.className = badge[1] ? "badge warning" : "badge";
          label.textContent = badge[0];
          item.append(label);
        });
        item.append(excerpt);
        list.append(item);
        if (focus && i === 0) link.focus();
      });
      more.hidden = shown >= found.length;
    });
  }

  /* The query goes into the address (?q=), so Back and a shared link bring it again, and into the
     link to the other language's search page. */
  function remember(query) {
    query = query.trim();
    [location, document.querySelector("a.switch")].forEach(function (target, i) {
      if (!target) return;
      var url = new URL(target.href);
      if (query) url.searchParams.set("q", query); else url.searchParams.delete("q");
      if (i) { target.href = url.href; return; }
      try { history.replaceState(null, "", url); } catch (error) { /* a file: URL may refuse it */ }
    });
  }

  function run() {
    clearTimeout(timer);
    remember(input.value);
    search(input.value);
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); run(); });
  input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 150); });
  more.addEventListener("click", function () { show(asked, true); });

  document.getElementById("no-search").hidden = true;
  form.hidden = false;
  var given = new URL(location.href).searchParams.get("q");
  if (given) {
    input.value = given;
    run();
  }
})();
