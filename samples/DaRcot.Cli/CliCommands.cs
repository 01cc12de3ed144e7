using System.CommandLine;

namespace DaRcot.Cli;

/// <summary>A darcot sub-command. Implementations need a public parameterless constructor.</summary>
public interface ICliCommand
{
    /// <summary>Builds the System.CommandLine command with its options and action.</summary>
    Command Build();
}

/// <summary>Finds the sub-commands in this assembly and runs darcot.</summary>
public static class CliCommands
{
    /// <summary>All commands, sorted by name.</summary>
    public static IEnumerable<Command> Discover() =>
        typeof(CliCommands).Assembly.GetTypes()
            .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => ((ICliCommand)Activator.CreateInstance(t)!).Build())
            .OrderBy(c => c.Name, StringComparer.Ordinal);

    /// <summary>Runs darcot in-process with <paramref name="args"/>, returning the exit code (used by tests).</summary>
    public static int Run(params string[] args) => RunAsync(args, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>
    /// Parses <paramref name="args"/> and runs the command. Parse errors are one line each (no help dump); the
    /// command's work observes <paramref name="cancellationToken"/> (the CLI cancels it on the first Ctrl-C, see
    /// <see cref="CliInterrupt"/>).
    /// </summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        // Native-runtime settings (threads, convolution checks) from the environment, before any tensor exists.
        if (CliRuntime.Initialize() is { } problem) return CliOutput.Fail("runtime", problem);
        var root = new RootCommand("darcot — DA-RCOT / REC image restoration (restore, report, train, eval, metrics, info, bench, doctor, demo, identify)");
        root.Options.Add(CliRuntime.Threads);
        foreach (var command in Discover()) root.Subcommands.Add(command);
        // No arguments at all: the overview is the most useful answer.
        var parsed = root.Parse(args.Count == 0 ? ["--help"] : args);
        if (parsed.Errors.Count > 0) return CliParseErrors.Report(root, parsed);
        if (CliRuntime.ApplyThreads(parsed) is { } threadsProblem) return CliOutput.Fail(parsed.CommandResult.Command.Name, threadsProblem);
        // Our own handler (CliInterrupt) owns Ctrl-C; System.CommandLine's would only register once the action
        // returned, i.e. after the work.
        var configuration = new InvocationConfiguration { ProcessTerminationTimeout = null };
        return await parsed.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
    }
}
