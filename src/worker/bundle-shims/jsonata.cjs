/**
 * `jsonata` as the workflow bundle imports it (src/worker/create-worker.ts):
 * the library is evaluated at its first call rather than as the bundle's
 * modules load. The workflow sandbox loads the workflow code's modules again
 * for every run, and JSONata's own load (its built-ins' signatures parsed,
 * its date formats) was most of that for runs that never evaluate JSONata:
 * plain `{{ path }}` placeholders and comparisons are read without it.
 * Loading is synchronous either way, so runs do what they did, in the same
 * order, and replay as they ran.
 */
'use strict';

let jsonata;

module.exports = function lazyJsonata(expression, options) {
  jsonata ??= require('jsonata');
  return jsonata(expression, options);
};
