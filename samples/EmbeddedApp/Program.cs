using EmbeddedApp;

await EmbeddedAppHost.Build(args).RunAsync();
