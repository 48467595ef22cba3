# The Ruby worker: speaks CrabLambda's worker protocol (docs/worker-protocol.md) on the Unix socket named by
# CRABLAMBDA_SOCKET, loads the function once and serves one invocation at a time.
require "json"
require "socket"

socket = UNIXSocket.new(ENV.delete("CRABLAMBDA_SOCKET"))
$stdin.reopen(File::NULL)
# Unbuffered, so that lines reach the log as they are written, and a killed worker loses none.
STDOUT.sync = true
STDERR.sync = true

def send_frame(socket, body)
  socket.write([body.bytesize].pack("N"), body)
end

def read_frame(socket)
  header = socket.read(4)
  return nil if header.nil? || header.bytesize < 4

  body = socket.read(header.unpack1("N"))
  body && JSON.parse(body.force_encoding(Encoding::UTF_8))
end

# A message and a trace that JSON can always carry, whatever bytes the exception holds.
def describe(error)
  text = ->(s) { s.to_s.dup.force_encoding(Encoding::UTF_8).scrub }
  frames = (error.backtrace || []).reject { |frame| frame.start_with?(__FILE__) } # the worker's own frames say nothing
  [text.("#{error.class}: #{error.message}"), text.(frames.join("\n"))]
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
rescue Exception => e # a load error or a missing method must reach the caller, whatever its class
  message, trace = describe(e)
  send_frame(socket, JSON.generate({ type: "error", error: message, trace: trace }))
  exit 1
end
send_frame(socket, JSON.generate({ type: "ready" }))

while (request = read_frame(socket))
  id = request["id"]
  context = request["context"]
  ctx = Context.new(context["function_name"], context["function_version"], context["execution_id"],
                    context["memory_limit_mb"], request["deadline_ms"])
  frame =
    begin
      value =
        case handler.arity
        when 0 then handler.call
        when 1 then handler.call(request["event"])
        else handler.call(request["event"], ctx)
        end
      begin
        JSON.generate({ type: "result", id: id, ok: true, output: value })
      rescue JSON::GeneratorError, Encoding::UndefinedConversionError => e # NaN, Infinity, invalid UTF-8
        JSON.generate({ type: "result", id: id, ok: false,
                        error: describe(e)[0].sub(/\A[^:]*:/, "The handler's return value is not JSON:"), trace: nil })
      end
    rescue Exception => e # whatever the handler raised, exit included, is the invocation's error
      message, trace = describe(e)
      JSON.generate({ type: "result", id: id, ok: false, error: message, trace: trace })
    end

  # The real streams, even if the function swapped $stdout or turned buffering back on.
  marker = "\n#{request["marker"]}\n"
  STDOUT.flush
  STDERR.flush
  STDOUT.syswrite(marker)
  STDERR.syswrite(marker)
  send_frame(socket, frame)
end
