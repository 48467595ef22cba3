using EmbeddedApp;

WebApplication app;
try
{
    app = EmbeddedAppHost.Build(args);
}
catch (InvalidOperationException exception)
{
    // A missing setting is the operator's to fix: say which, without a stack trace.
    await Console.Error.WriteLineAsync(exception.Message);
    return 1;
}

await app.RunAsync();
return 0;
