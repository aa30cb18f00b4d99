/**
 * `re2js` as the workflow bundle imports it (src/worker/create-worker.ts):
 * the regular-expression engine is evaluated when a run first uses a regular
 * expression, not as the bundle's modules load for every run (see
 * jsonata.cjs beside this).
 */
'use strict';

let re2js;

Object.defineProperty(exports, 'RE2JS', {
  enumerable: true,
  get() {
    re2js ??= require('re2js');
    return re2js.RE2JS;
  },
});
