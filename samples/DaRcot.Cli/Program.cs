using DaRcot.Cli;

// darcot: every command lives in Commands/ as one ICliCommand type; they are discovered by CliCommands, so adding a
// command never touches this file. Ctrl-C: the first cancels the command cleanly, the second quits (CliInterrupt).
using var interrupt = CliInterrupt.Install();
return await CliCommands.RunAsync(args, interrupt.Token);
