// Node's types come with the package (@types/node is a dependency): TypeScript 7 no longer
// loads @types/node unless asked, and these declarations use Buffer, node:http, ... (see
// test/types.test.ts). `preserve` keeps the directive in the emitted .d.ts.
/// <reference types="node" preserve="true" />
/**
 * stackful/net: green TCP (gevent.socket for Node), built on Node's `net`.
 * Socket and connect() are in socket.ts, Server and listen() in server.ts.
 *
 *   const sock = connect(80, 'example.com');      // parks this fiber until connected
 *   sock.write('GET / HTTP/1.0\r\n\r\n');
 *   const status = sock.readLine();
 *
 *   listen(8000, '127.0.0.1').serveForever((sock) => {   // a greenlet per connection
 *     for (let line; (line = sock.readLine()) !== null; ) sock.write(`${line}\n`);
 *   });
 *
 * Every call that may wait for the network parks only the calling fiber (a
 * Waiter woken from Node's socket events); on the root fiber it throws
 * FiberError ERR_BLOCKING_ON_ROOT, even when it would not have to wait.
 *
 * Reading: Node's socket runs in flowing mode and its chunks are kept in a
 * fiber-side buffer until a read takes them. Above `highWaterMark` bytes the
 * Node socket is paused, so a fiber that reads slowly makes the peer wait
 * (TCP flow control) instead of filling memory; it resumes as soon as a read
 * takes the buffer below the mark, or a read needs more than the mark.
 *
 * Writing: write() hands the data to Node and returns; when Node's buffer is
 * above its own high-water mark (write() returned false) it parks until
 * 'drain', so a fast writer waits for a slow peer.
 *
 * Errors: the socket's 'error' events are always listened to; an error is kept
 * and thrown by the read or write that comes next (or that is waiting), and by
 * every one after it, never as an unhandled 'error' event.
 */
export { Socket, connect } from './socket.js';
export type { ConnectOptions, ReadLineOptions, SocketOptions } from './socket.js';
export { Server, listen } from './server.js';
export type { ListenOptions } from './server.js';
