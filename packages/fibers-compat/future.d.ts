import Future = require('stackful/future');
export = Future;
