using System.CommandLine;
using System.Reflection;

namespace DaRcot.Cli;

/// <summary>A darcot sub-command. Implementations need a public parameterless constructor.</summary>
public interface ICliCommand
{
    /// <summary>Builds the System.CommandLine command with its options and action.</summary>
    Command Build();
}

/// <summary>Finds the sub-commands in this assembly.</summary>
public static class CliCommands
{
    /// <summary>All commands, sorted by name.</summary>
    public static IEnumerable<Command> Discover() =>
        typeof(CliCommands).Assembly.GetTypes()
            .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => ((ICliCommand)Activator.CreateInstance(t)!).Build())
            .OrderBy(c => c.Name, StringComparer.Ordinal);

    /// <summary>Runs darcot in-process with <paramref name="args"/>, returning the exit code (used by tests).</summary>
    public static int Run(params string[] args)
    {
        if (CliRuntime.Initialize() is { } problem) return CliOutput.Fail("runtime", problem);
        var root = new RootCommand("darcot");
        foreach (var command in Discover()) root.Subcommands.Add(command);
        return root.Parse(args).Invoke();
    }
}
