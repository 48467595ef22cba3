// CrabLambda's Node.js worker.
//
// Loads one CommonJS function module once, then serves invocations one at a time over the worker protocol
// (docs/worker-protocol.md): length-prefixed JSON frames on the Unix socket named by CRABLAMBDA_SOCKET, the
// function's own output on stdout and stderr, each invocation's output ended by a marker on both streams.
//
// Usage: node worker.js <module path> <handler name>
//        node worker.js     (a generic worker: it waits for a load message that names both)
"use strict";

const fs = require("fs");
const net = require("net");
const path = require("path");
const util = require("util");

const WORKER_FILE = __filename;
// The runtime appends a line to the function's module that stores a top-level function of the handler's name here,
// so that a handler need not be exported.
const HANDLER_KEY = Symbol.for("crablambda.handler");
const IDENTIFIER = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200C\u200D]*$/u;
const MAX_TEXT = 64 * 1024;
const MAX_TRACE = 256 * 1024;
const sleepCell = new Int32Array(new SharedArrayBuffer(4));
// Taken before the function loads, so that a function that replaces process.stdout.write cannot hide the marker.
const streamWrite = require("stream").Writable.prototype.write;
// Traces name the function's file without the host folder it sits in.
let codePrefix = null;
// The invocation being served, which an error thrown outside its handler's promise fails; null between invocations.
let current = null;

class LoadError extends Error {}

class Channel {
  constructor(socket) {
    this.socket = socket;
    this.chunks = [];
    this.length = 0;
    this.ended = false;
    this.waiter = null;
    socket.on("data", (chunk) => {
      this.chunks.push(chunk);
      this.length += chunk.length;
      this.wake();
    });
    socket.on("end", () => this.finish());
    socket.on("error", () => this.finish());
  }

  finish() {
    this.ended = true;
    this.wake();
  }

  wake() {
    const waiter = this.waiter;
    this.waiter = null;
    if (waiter) {
      waiter();
    }
  }

  async receive() {
    for (;;) {
      const frame = this.take();
      if (frame !== null) {
        return frame;
      }
      if (this.ended) {
        return null;
      }
      await new Promise((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  take() {
    if (this.length < 4) {
      return null;
    }
    if (this.chunks[0].length < 4) {
      this.chunks = [Buffer.concat(this.chunks)];
    }
    const size = this.chunks[0].readUInt32BE(0);
    if (this.length < 4 + size) {
      return null;
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const frame = all.subarray(4, 4 + size);
    const rest = all.subarray(4 + size);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return frame;
  }

  send(payload) {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(payload.length, 0);
    this.socket.write(Buffer.concat([header, payload]));
  }

  sendJson(message) {
    this.send(Buffer.from(JSON.stringify(message), "utf8"));
  }
}

function clip(text, limit) {
  if (text === null || text === undefined) {
    return null;
  }
  let value = String(text);
  if (typeof value.toWellFormed === "function") {
    value = value.toWellFormed();
  }
  return value.length <= limit ? value : `${value.slice(0, limit)}... [${value.length - limit} more characters]`;
}

// What a function throws is any value, and reading it runs the function's code (a getter, a proxy's trap, a custom
// inspect): a failure there must not lose the error, so each read falls back instead of throwing.
function readSafely(read, fallback) {
  try {
    return read();
  } catch {
    return fallback;
  }
}

function isError(value) {
  return readSafely(() => util.types.isNativeError(value) || value instanceof Error, false);
}

function show(value) {
  return readSafely(
    () => util.inspect(value, { depth: 4, breakLength: Infinity }),
    `a value util.inspect cannot show (typeof ${typeof value})`,
  );
}

function textOf(read) {
  const value = readSafely(read, undefined);
  if (value === undefined || value === null) {
    return "";
  }
  return typeof value === "string" ? value : show(value);
}

function describe(error) {
  if (isError(error)) {
    const name = textOf(() => error.name) || "Error";
    const message = textOf(() => error.message);
    return message ? `${name}: ${message}` : name;
  }
  return `The handler threw a value that is not an Error: ${show(error)}`;
}

function traceOf(error) {
  const stack = isError(error) ? readSafely(() => error.stack, null) : null;
  if (typeof stack !== "string") {
    return null;
  }
  // The worker's own frames and Node's internals say nothing about the function.
  const trace = stack
    .split("\n")
    .filter((line) => !line.includes(WORKER_FILE) && !line.includes("node:internal"))
    .join("\n");
  return codePrefix ? trace.split(codePrefix).join("") : trace;
}

function writeAll(fd, buffer) {
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += fs.writeSync(fd, buffer, offset);
    } catch (error) {
      if (error.code !== "EAGAIN") {
        return;
      }
      Atomics.wait(sleepCell, 0, 0, 1);
    }
  }
}

// Ends the invocation's output on both streams, then calls back. Node writes to a pipe at once only while the pipe
// has room; what did not fit waits in the stream and reaches the pipe later. So the marker goes through the stream,
// behind what waits there, unless the function has ended the stream, and then straight to the file descriptor.
function endOutput(marker, then) {
  // The common case: nothing waits in either stream, so the descriptors take the marker in order, at once.
  if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) {
    writeAll(1, marker);
    writeAll(2, marker);
    then();
    return;
  }
  let left = 2;
  const done = () => {
    left -= 1;
    if (left === 0) {
      then();
    }
  };
  for (const [fd, stream] of [[1, process.stdout], [2, process.stderr]]) {
    if (stream.writable && !stream.destroyed) {
      try {
        streamWrite.call(stream, marker, done);
        continue;
      } catch {
        // The stream refused the write; the descriptor may still take it.
      }
    }
    writeAll(fd, marker);
    done();
  }
}

function makeContext(context, deadlineMs) {
  return {
    functionName: context.function_name,
    functionVersion: context.function_version,
    executionId: context.execution_id,
    awsRequestId: context.execution_id,
    memoryLimitInMB: context.memory_limit_mb,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
  };
}

function errorFrame(id, message, trace) {
  const frame = { type: "result", id, ok: false, error: clip(message, MAX_TEXT), trace: clip(trace, MAX_TRACE) };
  return Buffer.from(JSON.stringify(frame), "utf8");
}

// A replacer that refuses what JSON.stringify would quietly write as null.
function refuseNonFinite(key, value) {
  const number = typeof value === "number" ? value : value instanceof Number ? value.valueOf() : null;
  if (number !== null && !Number.isFinite(number)) {
    throw new TypeError(`${number} is not a JSON number${key === "" ? "" : ` (at "${key}")`}.`);
  }
  return value;
}

function resultFrame(id, result) {
  let output;
  try {
    output = result === undefined ? "null" : JSON.stringify(result);
    // JSON.stringify writes NaN and the infinities as null. Only output with a null in it can hide one, so only such
    // output pays for a second pass that looks (and calls toJSON methods and getters a second time).
    if (output !== undefined && output.includes("null")) {
      JSON.stringify(result, refuseNonFinite);
    }
  } catch (error) {
    const reason = isError(error) ? textOf(() => error.message) : show(error);
    return errorFrame(id, `The handler's return value is not JSON: ${reason}`, null);
  }
  if (output === undefined) {
    return errorFrame(id, `The handler's return value is not JSON: a ${typeof result} cannot be serialised.`, null);
  }
  const head = `{"type":"result","id":${JSON.stringify(id)},"ok":true,"output":`;
  return Buffer.concat([Buffer.from(head, "utf8"), Buffer.from(output, "utf8"), Buffer.from("}", "utf8")]);
}

// Serves one invocation. It ends when the handler's promise settles, or earlier when an error thrown outside that
// promise fails it; a handler that settles after that is ignored.
function invoke(channel, handler, message) {
  const id = message.id;
  const marker = Buffer.from(`\n${message.marker}\n`, "ascii");
  const context = makeContext(message.context, message.deadline_ms);
  return new Promise((resolve) => {
    const invocation = {
      finish(frame) {
        if (current !== invocation) {
          return;
        }
        current = null;
        endOutput(marker, () => {
          channel.send(frame);
          resolve();
        });
      },
      fail(text, trace) {
        invocation.finish(errorFrame(id, text, trace));
      },
    };
    current = invocation;

    let settled;
    try {
      settled = Promise.resolve(handler(message.event, context));
    } catch (error) {
      settled = Promise.reject(error);
    }
    settled.then(
      (result) => invocation.finish(resultFrame(id, result)),
      (error) => invocation.fail(describe(error), traceOf(error)),
    );
  });
}

// An error thrown by a timer or a callback, or a rejected promise nobody handled, would end the worker. It fails the
// invocation being served instead, as AWS Lambda's Node.js runtime does, whichever invocation left the timer behind;
// between invocations its stack goes to stderr, so it lands in the next invocation's logs. The worker goes on.
function onStrayError(kind, error) {
  const text = `${kind}: ${describe(error)}`;
  const stack = traceOf(error);
  const trace = stack && stack.startsWith(describe(error))
    ? `${kind}: ${stack}`
    : [text, stack].filter(Boolean).join("\n");
  if (current !== null) {
    current.fail(text, trace);
    return;
  }
  writeAll(2, Buffer.from(`${trace}\n`, "utf8"));
}

// The exports' own property of that name, or one of their class (module.exports = new Handlers()); nothing that
// every object or function inherits (toString, hasOwnProperty) and no class's constructor is an export.
function exportNamed(exported, name) {
  if ((typeof exported !== "object" && typeof exported !== "function") || exported === null) {
    return undefined;
  }
  let owner = exported;
  while (owner !== null && owner !== Object.prototype && owner !== Function.prototype) {
    if (Object.hasOwn(owner, name)) {
      return owner === exported || name !== "constructor" ? exported[name] : undefined;
    }
    owner = Object.getPrototypeOf(owner);
  }
  return undefined;
}

function load(modulePath, name) {
  if (!IDENTIFIER.test(name)) {
    throw new LoadError(`'${name}' is not a valid JavaScript identifier.`);
  }
  const exported = require(modulePath);
  // A method is called on the object it was exported with, so that `this` is that object, as in `exports.handler()`.
  const method = exportNamed(exported, name);
  let handler = typeof method === "function" ? method.bind(exported) : method;
  if (typeof handler !== "function") {
    const loaded = require.cache[require.resolve(modulePath)];
    handler = loaded ? loaded[HANDLER_KEY] : undefined;
  }
  if (typeof handler !== "function") {
    throw new LoadError(
      `The module exports no function named '${name}' and declares no top-level function of that name.`,
    );
  }
  return handler;
}

// Waits for the load message of a generic worker; null when the host went away first.
async function receiveLoad(channel) {
  const frame = await channel.receive();
  if (frame === null) {
    return null;
  }
  let message;
  try {
    message = JSON.parse(frame.toString("utf8"));
  } catch {
    message = null;
  }
  if (!message || message.type !== "load" || typeof message.code_path !== "string"
    || typeof message.handler !== "string") {
    throw new LoadError("The worker expected a load message with code_path and handler.");
  }
  return [message.code_path, message.handler];
}

async function main() {
  const socketPath = process.env.CRABLAMBDA_SOCKET;
  delete process.env.CRABLAMBDA_SOCKET;
  const functionArguments = process.argv.slice(2);
  if (!socketPath || (functionArguments.length !== 0 && functionArguments.length !== 2)) {
    process.stderr.write("usage: CRABLAMBDA_SOCKET=<socket> node worker.js [<module path> <handler name>]\n");
    process.exit(2);
  }

  const socket = net.createConnection(socketPath);
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const channel = new Channel(socket);
  process.on("uncaughtException", (error) =>
    onStrayError("Uncaught exception (thrown by a timer or callback, outside the handler's promise)", error));
  process.on("unhandledRejection", (reason) =>
    onStrayError("Unhandled promise rejection (a promise nothing awaited or caught)", reason));

  let handler;
  try {
    let [modulePath, handlerName] = functionArguments;
    if (functionArguments.length === 0) {
      const request = await receiveLoad(channel);
      if (request === null) {
        process.exit(0);
      }
      [modulePath, handlerName] = request;
    }
    process.argv = [process.argv[0], modulePath];
    codePrefix = path.dirname(path.resolve(modulePath)) + path.sep;
    handler = load(modulePath, handlerName);
  } catch (error) {
    const ours = error instanceof LoadError;
    const message = ours ? error.message : describe(error);
    const trace = ours ? null : traceOf(error);
    channel.sendJson({ type: "error", error: clip(message, MAX_TEXT), trace: clip(trace, MAX_TRACE) });
    // Timers the module started must not keep a worker alive that failed to load.
    socket.end(() => process.exit(1));
    return;
  }

  channel.sendJson({ type: "ready" });
  for (;;) {
    const frame = await channel.receive();
    if (frame === null) {
      process.exit(0);
    }
    const message = JSON.parse(frame.toString("utf8"));
    if (message.type === "invoke") {
      await invoke(channel, handler, message);
    }
  }
}

main().catch((error) => {
  process.stderr.write(`The CrabLambda worker failed: ${error && error.stack ? error.stack : error}\n`);
  process.exit(70);
});
