using System.CommandLine;
using DaRcot.Cli;

// darcot: every command lives in Commands/ as one ICliCommand type; they are discovered here so that adding a
// command never touches this file.
if (CliRuntime.Initialize() is { } problem) return CliOutput.Fail("runtime", problem);
var root = new RootCommand("darcot — DA-RCOT / REC image restoration (restore, train, eval, metrics, info, bench)");
foreach (var command in CliCommands.Discover()) root.Subcommands.Add(command);
return await root.Parse(args).InvokeAsync();
