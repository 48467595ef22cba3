namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// Function sources used by the end-to-end tests.
/// </summary>
internal static class FunctionCode
{
    public const string PythonQuickStart =
        """
        def handler(event, context):
            name = event.get("name", "world")
            print(f"greeting {name}")
            return f"Hello, {name}!"
        """;

    public const string NodeQuickStart =
        """
        exports.handler = async (event, context) => {
          console.log(`greeting ${event.name}`);
          return `Hello, ${event.name}!`;
        };
        """;

    public static string PythonReturning(string value) =>
        $$"""
        def handler(event):
            if event.get("fail"):
                raise ValueError("asked to fail")
            return {"from": "{{value}}", "event": event}
        """;
}
