using CrabLambda.Server;

return await CrabLambdaServer.RunAsync(args);
