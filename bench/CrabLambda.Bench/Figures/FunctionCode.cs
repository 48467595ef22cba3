namespace CrabLambda.Bench.Figures;

/// <summary>
/// The function every figure runs, in each runtime: it echoes the event and says how long its own body took, so that
/// the platform's overhead is the client's latency minus that.
/// </summary>
internal static class FunctionCode
{
    /// <summary>The runtimes measured, in the order of the table.</summary>
    public static readonly string[] Runtimes = ["python", "node", "rust"];

    /// <summary>A small event, as a client would send.</summary>
    public static readonly byte[] Event =
        """{"order":1234,"customer":"bench","items":[{"sku":"A-1","qty":2}]}"""u8.ToArray();

    public static string For(string runtime) => runtime switch
    {
        "python" => """
            import time


            def handler(event):
                started = time.perf_counter_ns()
                answer = {"echo": event}
                answer["handler_ns"] = time.perf_counter_ns() - started
                return answer
            """,
        "node" => """
            exports.handler = async (event) => {
              const started = process.hrtime.bigint();
              const answer = { echo: event };
              answer.handler_ns = Number(process.hrtime.bigint() - started);
              return answer;
            };
            """,
        "rust" => """
            fn handler(event: Value) -> Value {
                let started = std::time::Instant::now();
                let mut answer = serde_json::json!({ "echo": event });
                answer["handler_ns"] = serde_json::json!(started.elapsed().as_nanos() as u64);
                answer
            }
            """,
        _ => throw new ArgumentOutOfRangeException(nameof(runtime), runtime, "Not a runtime the bench measures."),
    };

    /// <summary>The runtimes with an interpreter, whose start and memory are floors.</summary>
    public static bool HasInterpreter(string runtime) => runtime is "python" or "node";
}
