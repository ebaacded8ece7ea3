import Fiber = require('stackful/fibers');
export = Fiber;
