'use strict';
// require('fibers/future'), when `fibers` is installed as an alias of this package.
module.exports = require('stackful/future');
