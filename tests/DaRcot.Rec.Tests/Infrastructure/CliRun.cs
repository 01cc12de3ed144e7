using DaRcot.Cli;

namespace DaRcot.Rec.Tests.Infrastructure;

/// <summary>Tests that redirect <see cref="Console"/>; they run alone, after the parallel tests, so no other test's
/// output can mix into the captured text. Every class that uses <see cref="CliRun.Capture"/> joins this collection.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCaptureCollection
{
    public const string Name = "Console capture";
}

/// <summary>Runs <c>darcot</c> in-process and captures what it prints.</summary>
public static class CliRun
{
    /// <summary>Runs <c>darcot args...</c>; returns the exit code, standard output and standard error.</summary>
    public static (int Code, string Out, string Err) Capture(params string[] args)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        Console.SetOut(stdout);
        Console.SetError(stderr);
        try
        {
            var code = CliCommands.Run(args);
            return (code, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }
}
