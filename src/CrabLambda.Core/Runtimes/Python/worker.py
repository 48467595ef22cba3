"""CrabLambda's Python worker.

Loads one function module once, then serves invocations one at a time over the worker protocol
(docs/worker-protocol.md): length-prefixed JSON frames on the Unix socket named by CRABLAMBDA_SOCKET, the
function's own output on stdout and stderr, each invocation's output ended by a marker on both streams.

Usage: python3 -u -B -I worker.py <module path> <handler name>
       python3 -u -B -I worker.py     (a generic worker: it waits for a load message that names both)
"""

import importlib.util
import json
import os
import socket
import struct
import sys
import time

# asyncio, inspect and traceback are imported when first needed: together they double the worker's memory and
# add tens of milliseconds to its start, and most handlers are neither async nor failing.

_WORKER_FILE = os.path.abspath(__file__)
# Traces name the function's file without the host folder it sits in.
_code_prefix = None
_MAX_TEXT = 64 * 1024
_MAX_TRACE = 256 * 1024
# The lowest descriptor the protocol socket is moved to, away from the 3 a first open file or socket would get.
_SOCKET_FD = 1000


class Context:
    """What the handler learns about its invocation, named as in AWS Lambda's Python runtime."""

    __slots__ = (
        "function_name",
        "function_version",
        "execution_id",
        "aws_request_id",
        "memory_limit_in_mb",
        "_deadline_ms",
    )

    def __init__(self, context, deadline_ms):
        self.function_name = context["function_name"]
        self.function_version = context["function_version"]
        self.execution_id = context["execution_id"]
        self.aws_request_id = self.execution_id
        self.memory_limit_in_mb = context["memory_limit_mb"]
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        """Milliseconds left before the platform stops the invocation."""
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self):
        return (
            f"Context(function_name={self.function_name!r}, function_version={self.function_version!r}, "
            f"execution_id={self.execution_id!r}, memory_limit_in_mb={self.memory_limit_in_mb!r})"
        )


class _Channel:
    def __init__(self, sock):
        self._sock = sock

    def send(self, message):
        payload = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
        self.send_raw(payload)

    def send_raw(self, payload):
        self._sock.sendall(struct.pack(">I", len(payload)) + payload)

    def receive(self):
        header = self._read(4)
        if header is None:
            return None
        (length,) = struct.unpack(">I", header)
        return self._read(length)

    def _read(self, count):
        buffer = bytearray(count)
        view = memoryview(buffer)
        received = 0
        while received < count:
            read = self._sock.recv_into(view[received:])
            if read == 0:
                return None
            received += read
        return bytes(buffer)


def _move_out_of_reach(sock):
    """Moves the socket to a high descriptor, close-on-exec, so that a function writing to fd 3 does not reach it.

    Only an accident is prevented: the function runs in this process and can still find the socket.
    """
    try:
        import fcntl

        high = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, _SOCKET_FD)
    except (ImportError, OSError):
        # No fcntl module, or a descriptor limit below _SOCKET_FD: the socket stays where it is.
        return sock
    moved = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, high)
    sock.close()
    return moved


class _LoadError(Exception):
    pass


def _clip(text, limit):
    if text is None:
        return None
    text = str(text).encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


def _is_user_frame(frame):
    return frame.filename != _WORKER_FILE and not frame.filename.startswith("<frozen ")


def _format_trace(error):
    """The traceback without the worker's and the import machinery's own frames."""
    import traceback

    summary = traceback.TracebackException.from_exception(error)
    seen = set()
    pending = [summary]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.stack = traceback.StackSummary.from_list([f for f in current.stack if _is_user_frame(f)])
        pending.append(current.__cause__)
        pending.append(current.__context__)
    text = "".join(summary.format()).rstrip("\n")
    return text.replace(_code_prefix, "") if _code_prefix else text


def _describe(error):
    try:
        text = str(error)
    except Exception:
        # As traceback does for an exception whose __str__ fails: its type still says what it was.
        text = "<exception str() failed>"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _load(path, name):
    spec = importlib.util.spec_from_file_location("function", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["function"] = module
    spec.loader.exec_module(module)
    # The module's own namespace: getattr would also find what the module type gives every module (__class__,
    # __init__, __dir__), which no function defined.
    handler = vars(module).get(name)
    if handler is None:
        raise _LoadError(f"The module defines no top-level function named '{name}'.")
    if not callable(handler):
        raise _LoadError(f"'{name}' in the module is a {type(handler).__name__}, not a function.")
    return handler


def _positional_parameters(handler):
    """How many arguments the handler takes: 0, 1 (event) or 2 (event, context)."""
    code = getattr(handler, "__code__", None)
    if code is not None and not hasattr(handler, "__wrapped__") and getattr(handler, "__self__", None) is None:
        # A plain function: its code object says it without inspect.
        if code.co_flags & 0x04:  # CO_VARARGS
            return 2
        return min(code.co_argcount, 2)

    import inspect

    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return 2
    count = 0
    for parameter in parameters:
        if parameter.kind == parameter.VAR_POSITIONAL:
            return 2
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return min(count, 2)


def _write_all(fd, data):
    while data:
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        except OSError:
            return
        data = data[written:]


def _end_output(marker):
    """Flushes Python's buffers, then ends this invocation's output on both streams."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass
    _write_all(1, marker)
    _write_all(2, marker)


def _run_until_complete(awaitable):
    """Runs an awaitable on the thread's event loop: the one the function already made, or a new one."""
    import asyncio

    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
        if loop.is_closed():
            raise RuntimeError("closed")
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop.run_until_complete(awaitable)


def _is_awaitable(value):
    if not hasattr(value, "__await__") and type(value).__name__ != "generator":
        return False
    import inspect

    return inspect.isawaitable(value)


def _error_result(execution_id, error, trace):
    return {
        "type": "result",
        "id": execution_id,
        "ok": False,
        "error": _clip(error, _MAX_TEXT),
        "trace": _clip(trace, _MAX_TRACE),
    }


def _invoke(channel, handler, arity, message):
    execution_id = message["id"]
    marker = ("\n" + message["marker"] + "\n").encode("ascii")
    context = Context(message["context"], message["deadline_ms"])
    event = message["event"]
    arguments = (event, context)[:arity]
    del message

    result_frame = None
    try:
        result = handler(*arguments)
        if _is_awaitable(result):
            result = _run_until_complete(result)
    except SystemExit:
        # sys.exit() ends the worker with the function's code, and the host reports it (see main).
        raise
    except BaseException as error:
        # Exception, and the BaseException classes that are not one (KeyboardInterrupt, GeneratorExit,
        # asyncio.CancelledError, a class of the function's own): each came out of the handler's own call, so the
        # worker is intact and serves on.
        result_frame = _error_result(execution_id, _describe(error), _format_trace(error))
    else:
        try:
            output = json.dumps(result, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError, UnicodeError, RecursionError) as error:
            result_frame = _error_result(execution_id, f"The handler's return value is not JSON: {error}", None)
        except SystemExit:
            raise
        except BaseException as error:
            # Raised by the value's own code while it was serialised: the items() or __iter__ of a subclass.
            text = f"The handler's return value could not be serialised: {_describe(error)}"
            result_frame = _error_result(execution_id, text, _format_trace(error))

    _end_output(marker)
    if result_frame is not None:
        channel.send(result_frame)
    else:
        head = json.dumps({"type": "result", "id": execution_id, "ok": True}, separators=(",", ":"))
        channel.send_raw(head[:-1].encode("ascii") + b',"output":' + output + b"}")


def _receive_load(channel):
    """Waits for the load message of a generic worker; None when the host went away first."""
    frame = channel.receive()
    if frame is None:
        return None
    try:
        message = json.loads(frame)
        if message.get("type") == "load":
            return str(message["code_path"]), str(message["handler"])
    except (ValueError, KeyError, AttributeError):
        pass
    raise _LoadError("The worker expected a load message with code_path and handler.")


def main():
    socket_path = os.environ.pop("CRABLAMBDA_SOCKET", None)
    if not socket_path or len(sys.argv) not in (1, 3):
        sys.stderr.write("usage: CRABLAMBDA_SOCKET=<socket> worker.py [<module path> <handler name>]\n")
        return 2

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(socket_path)
    channel = _Channel(_move_out_of_reach(sock))

    if len(sys.argv) == 3:
        module_path, handler_name = sys.argv[1], sys.argv[2]
    else:
        try:
            load = _receive_load(channel)
        except _LoadError as error:
            channel.send({"type": "error", "error": str(error), "trace": None})
            return 1
        if load is None:
            return 0
        module_path, handler_name = load
    global _code_prefix
    _code_prefix = os.path.dirname(os.path.abspath(module_path)) + os.sep
    sys.argv = [module_path]

    try:
        handler = _load(module_path, handler_name)
    except _LoadError as error:
        channel.send({"type": "error", "error": str(error), "trace": None})
        return 1
    except SystemExit as error:
        message = f"The module exited with code {error.code} while loading."
        channel.send({"type": "error", "error": message, "trace": None})
        return 1
    except BaseException as error:
        channel.send({"type": "error", "error": _clip(_describe(error), _MAX_TEXT),
                      "trace": _clip(_format_trace(error), _MAX_TRACE)})
        return 1

    arity = _positional_parameters(handler)
    channel.send({"type": "ready"})

    while True:
        frame = channel.receive()
        if frame is None:
            return 0
        message = json.loads(frame)
        if message.get("type") == "invoke":
            # sys.exit() in the handler raises SystemExit out of here: the worker exits with the function's code, and
            # the host reports it.
            _invoke(channel, handler, arity, message)


if __name__ == "__main__":
    sys.exit(main())
