//! The worker side of CrabLambda's Rust runtime: the `crablambda` crate that every compiled function links.
//!
//! It speaks the worker protocol: connect to the host's Unix socket, say ready, then per invocation read a
//! length-prefixed JSON request, call the handler, end its stdout and stderr with the invocation's marker and send
//! the result. It keeps to the standard library of Rust 1.63 so that a distribution's toolchain builds it.

use std::fmt::Display;
use std::io::{Read, Write};
use std::os::raw::c_int;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What the generated program glob-imports into the function's scope. A glob import yields to the function's own
/// items and imports, so a function that writes `use serde_json::Value;` or defines its own `Context` still compiles.
pub mod prelude
{
    pub use crate::Context;
    pub use serde_json::{json, Value};
}

/// Facts about the invocation, the handler's optional second parameter.
#[derive(Clone, Debug)]
pub struct Context
{
    /// The function's name.
    pub function_name: String,
    /// The version being run.
    pub function_version: i64,
    /// The id of this execution.
    pub execution_id: String,
    /// The function's memory limit, in MiB.
    pub memory_limit_mb: i64,
    deadline_ms: u64,
}

impl Context
{
    /// The time left before the host stops the invocation.
    pub fn remaining_time(&self) -> Duration
    {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or(0);
        Duration::from_millis(self.deadline_ms.saturating_sub(now))
    }
}

/// Why an invocation failed: the message and, when there is one, where.
#[doc(hidden)]
pub struct Failure
{
    message: String,
    trace: Option<String>,
}

impl Failure
{
    fn new(message: String) -> Self
    {
        Failure { message, trace: None }
    }
}

/// A handler with a supported parameter list, `(event)` or `(event, context)`. The two impls differ in `Args`, so
/// they never overlap, and a function item matches exactly one of them.
#[doc(hidden)]
pub trait Handler<Args>
{
    type Output;

    fn call_with(&self, event: Value, context: Context) -> Result<Self::Output, Failure>;
}

impl<F, T, R> Handler<(T,)> for F
where
    F: Fn(T) -> R,
    T: DeserializeOwned,
{
    type Output = R;

    fn call_with(&self, event: Value, _context: Context) -> Result<R, Failure>
    {
        Ok(self(parse_event(event)?))
    }
}

impl<F, T, R> Handler<(T, Context)> for F
where
    F: Fn(T, Context) -> R,
    T: DeserializeOwned,
{
    type Output = R;

    fn call_with(&self, event: Value, context: Context) -> Result<R, Failure>
    {
        Ok(self(parse_event(event)?, context))
    }
}

fn parse_event<T: DeserializeOwned>(event: Value) -> Result<T, Failure>
{
    serde_json::from_value(event)
        .map_err(|error| Failure::new(format!("The event does not fit the handler's parameter type: {}", error)))
}

/// Calls the handler. The generated program then turns the concrete return type into the output.
#[doc(hidden)]
pub fn call<H, Args>(handler: H, event: Value, context: Context) -> Result<H::Output, Failure>
where
    H: Handler<Args>,
{
    handler.call_with(event, context)
}

/// What the handler returned. The generated program calls `into_output` on `&&Returned(value)`: method lookup tries
/// `&&Returned<_>` (a `Result`) before `&Returned<_>` (anything serialisable), which picks the `Result` handling
/// without the two impls overlapping.
#[doc(hidden)]
pub struct Returned<T>(pub T);

/// A returned `Result`: `Ok` is the output, `Err` is the error message.
#[doc(hidden)]
pub trait ViaResult
{
    fn into_output(self) -> Result<Value, Failure>;
}

impl<T: Serialize, E: Display> ViaResult for &&Returned<Result<T, E>>
{
    fn into_output(self) -> Result<Value, Failure>
    {
        match &self.0
        {
            Ok(value) => to_output(value),
            Err(error) => Err(Failure::new(error.to_string())),
        }
    }
}

/// Any other returned value, serialised as it is.
#[doc(hidden)]
pub trait ViaSerialize
{
    fn into_output(self) -> Result<Value, Failure>;
}

impl<T: Serialize> ViaSerialize for &Returned<T>
{
    fn into_output(self) -> Result<Value, Failure>
    {
        to_output(&self.0)
    }
}

fn to_output<T: Serialize + ?Sized>(value: &T) -> Result<Value, Failure>
{
    serde_json::to_value(value)
        .map_err(|error| Failure::new(format!("The handler returned a value that is not JSON: {}", error)))
}

/// The lowest descriptor the protocol socket is moved to, away from the 3 a first open file or socket would get.
const SOCKET_FD: c_int = 1000;

/// Linux's `F_DUPFD_CLOEXEC`: duplicate to the lowest free descriptor at or above the argument, close-on-exec.
const F_DUPFD_CLOEXEC: c_int = 1030;

extern "C"
{
    fn fcntl(fd: c_int, command: c_int, ...) -> c_int;
}

/// Moves the socket to a high descriptor, close-on-exec, so that a function writing to fd 3 does not reach it. Only
/// an accident is prevented: the function runs in this process and can still find the socket.
fn move_out_of_reach(socket: UnixStream) -> UnixStream
{
    // SAFETY: F_DUPFD_CLOEXEC only duplicates the descriptor the stream owns; the new stream owns the duplicate.
    let high = unsafe { fcntl(socket.as_raw_fd(), F_DUPFD_CLOEXEC, SOCKET_FD) };
    if high < 0
    {
        // A descriptor limit below SOCKET_FD: the socket stays where it is.
        return socket;
    }

    drop(socket);
    // SAFETY: `high` is a fresh descriptor of a connected Unix stream socket that nothing else owns.
    unsafe { UnixStream::from_raw_fd(high) }
}

/// The last panic's message and location, left by the panic hook for the invocation that caught it.
static LAST_PANIC: Mutex<Option<(String, Option<String>)>> = Mutex::new(None);

/// Serves invocations until the host closes the socket.
#[doc(hidden)]
pub fn run<F>(mut invoke: F)
where
    F: FnMut(Value, Context) -> Result<Value, Failure>,
{
    let path = match std::env::var_os("CRABLAMBDA_SOCKET")
    {
        Some(path) => path,
        None => fail("CRABLAMBDA_SOCKET is not set: this program is a CrabLambda worker, started by the host"),
    };

    // The function must not learn where the host listens.
    std::env::remove_var("CRABLAMBDA_SOCKET");
    let mut socket = match UnixStream::connect(&path)
    {
        Ok(socket) => move_out_of_reach(socket),
        Err(error) => fail(&format!("cannot connect to the host: {}", error)),
    };

    // A panic of the handler becomes the invocation's error instead of a message on stderr, and the worker stays
    // alive. A panic on a thread the handler started is only reported, on stderr, as Rust's own hook would.
    panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>())
        {
            (Some(text), _) => text.to_string(),
            (_, Some(text)) => text.clone(),
            _ => "the handler panicked".to_string(),
        };
        let location = info
            .location()
            .map(|place| format!("panicked at {}:{}:{}", place.file(), place.line(), place.column()));
        let thread = std::thread::current();
        if thread.name() == Some("main")
        {
            *LAST_PANIC.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((message, location));
        }
        else
        {
            let name = thread.name().unwrap_or("<unnamed>");
            eprintln!("thread '{}' {}: {}", name, location.unwrap_or_else(|| "panicked".to_string()), message);
        }
    }));

    if let Err(error) = write_frame(&mut socket, &json!({"type": "ready"}))
    {
        fail(&format!("cannot write to the host: {}", error));
    }

    loop
    {
        let body = match read_frame(&mut socket)
        {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(error) => fail(&format!("cannot read from the host: {}", error)),
        };

        // The protocol has no other request yet; one from a newer host is skipped rather than misread.
        let result = match parse_request(&body)
        {
            Ok(request) if request["type"] != "invoke" => continue,
            Ok(request) => serve(&mut invoke, request),
            Err(error) => match serde_json::from_slice::<Unreadable>(&body)
            {
                Ok(request) if request.kind != "invoke" => continue,
                Ok(request) => refuse(request, &error),
                Err(_) => fail(&format!("cannot read a request from the host: {}", error)),
            },
        };
        if let Err(error) = write_frame(&mut socket, &result)
        {
            fail(&format!("cannot write to the host: {}", error));
        }
    }
}

fn serve<F>(invoke: &mut F, mut request: Value) -> Value
where
    F: FnMut(Value, Context) -> Result<Value, Failure>,
{
    let id = request["id"].take();
    let marker = request["marker"].as_str().unwrap_or_default().to_string();
    let event = request["event"].take();
    let context = Context {
        function_name: request["context"]["function_name"].as_str().unwrap_or_default().to_string(),
        function_version: request["context"]["function_version"].as_i64().unwrap_or_default(),
        execution_id: request["context"]["execution_id"].as_str().unwrap_or_default().to_string(),
        memory_limit_mb: request["context"]["memory_limit_mb"].as_i64().unwrap_or_default(),
        deadline_ms: request["deadline_ms"].as_u64().unwrap_or_default(),
    };

    let outcome = match panic::catch_unwind(AssertUnwindSafe(|| invoke(event, context)))
    {
        Ok(outcome) => outcome,
        Err(_) =>
        {
            let (message, trace) = LAST_PANIC
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take()
                .unwrap_or_else(|| ("the handler panicked".to_string(), None));
            Err(Failure { message, trace })
        }
    };

    end_output(&marker);
    match outcome
    {
        Ok(output) => json!({"type": "result", "id": id, "ok": true, "output": output}),
        Err(failure) => json!({
            "type": "result",
            "id": id,
            "ok": false,
            "error": failure.message,
            "trace": failure.trace,
        }),
    }
}

/// An invoke request whose event serde_json cannot hold as a `Value` (a number beyond an f64, an unpaired surrogate
/// escape): only what it takes to answer it. Fields not named here are skipped without being decoded.
#[derive(Deserialize)]
struct Unreadable
{
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    id: Value,
    #[serde(default)]
    marker: String,
}

/// Answers an invocation whose event could not be read: the function did not run, and the worker serves on.
fn refuse(request: Unreadable, error: &serde_json::Error) -> Value
{
    end_output(&request.marker);
    json!({
        "type": "result",
        "id": request.id,
        "ok": false,
        "error": format!("the Rust runtime cannot read the event: {}", error),
        "trace": Value::Null,
    })
}

/// Ends the invocation's output: whatever the function buffered first, then the marker, written to the raw file
/// descriptors so that it lands after everything the function wrote.
fn end_output(marker: &str)
{
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();

    let line = format!("\n{}\n", marker);
    for fd in [1, 2]
    {
        // SAFETY: fd 1 and 2 are open for the whole life of the process, and ManuallyDrop never closes them.
        let mut stream = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
        let _ = stream.write_all(line.as_bytes());
    }
}

fn read_frame(socket: &mut UnixStream) -> std::io::Result<Option<Vec<u8>>>
{
    let mut prefix = [0u8; 4];
    match socket.read_exact(&mut prefix)
    {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }

    let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
    socket.read_exact(&mut body)?;
    Ok(Some(body))
}

fn parse_request(body: &[u8]) -> serde_json::Result<Value>
{
    // serde_json stops at 128 levels by default. The host refuses events nested deeper than 256 levels, so a request
    // nests at most 257: far within the main thread's stack.
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    deserializer.disable_recursion_limit();
    let request = Value::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(request)
}

fn write_frame(socket: &mut UnixStream, message: &Value) -> std::io::Result<()>
{
    let body = serde_json::to_vec(message)
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))?;
    let length = u32::try_from(body.len())
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))?;

    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&body);
    socket.write_all(&frame)
}

fn fail(message: &str) -> !
{
    eprintln!("crablambda worker: {}", message);
    std::process::exit(70);
}
