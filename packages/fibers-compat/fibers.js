'use strict';
// require('fibers'), when `fibers` is installed as an alias of this package.
module.exports = require('stackful/fibers');
