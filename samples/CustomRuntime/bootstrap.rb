# The Ruby worker: speaks CrabLambda's worker protocol (docs/worker-protocol.md) on the Unix socket named by
# CRABLAMBDA_SOCKET, loads the function once and serves one invocation at a time.
require "json"
require "socket"

socket = UNIXSocket.new(ENV.delete("CRABLAMBDA_SOCKET"))
$stdin.reopen(File::NULL)

def send_frame(socket, message)
  body = JSON.generate(message)
  socket.write([body.bytesize].pack("N"), body)
end

def read_frame(socket)
  header = socket.read(4)
  return nil if header.nil? || header.bytesize < 4

  JSON.parse(socket.read(header.unpack1("N")))
end

def describe(error)
  ["#{error.class}: #{error.message}", (error.backtrace || []).join("\n")]
end

# Lets a handler take (event) or (event, context), like the built-in runtimes.
Context = Struct.new(:function_name, :function_version, :execution_id, :memory_limit_in_mb, :deadline_ms) do
  def remaining_time_in_millis
    [deadline_ms - (Time.now.to_f * 1000).to_i, 0].max
  end
end

code_path, handler_name = ARGV
begin
  load code_path
  handler = Object.new.method(handler_name)
rescue Exception => e # a syntax error or a missing method must reach the caller, whatever its class
  message, trace = describe(e)
  send_frame(socket, { type: "error", error: message, trace: trace })
  exit 1
end
send_frame(socket, { type: "ready" })

while (request = read_frame(socket))
  context = request["context"]
  ctx = Context.new(context["function_name"], context["function_version"], context["execution_id"],
                    context["memory_limit_mb"], request["deadline_ms"])
  result =
    begin
      value = handler.arity == 1 ? handler.call(request["event"]) : handler.call(request["event"], ctx)
      JSON.generate(value) # raises for what JSON cannot carry (NaN, Infinity, invalid UTF-8)
      { type: "result", id: request["id"], ok: true, output: value }
    rescue Exception => e
      message, trace = describe(e)
      { type: "result", id: request["id"], ok: false, error: message, trace: trace }
    end

  $stdout.flush
  $stderr.flush
  marker = "\n#{request["marker"]}\n"
  $stdout.syswrite(marker)
  $stderr.syswrite(marker)
  send_frame(socket, result)
end
