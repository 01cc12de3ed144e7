using System.Runtime.InteropServices;
using System.Text.Json;
using DaRcot.Rec.Errors;

namespace DaRcot.Cli;

/// <summary>Output conventions and exit codes shared by every command.</summary>
public static class CliOutput
{
    /// <summary>Exit code when the command finished but skipped some inputs (each reported on stderr).</summary>
    public const int PartialFailure = 2;

    /// <summary>Prints <c>darcot COMMAND: message</c> as ONE line on stderr and returns exit code 1. Multi-line library
    /// messages (e.g. a state_dict mismatch listing keys) are joined with "; " so scripts can grep a single line.</summary>
    public static int Fail(string command, string message)
    {
        Console.Error.WriteLine($"darcot {command}: {OneLine(message)}");
        return 1;
    }

    /// <summary>Prints <c>darcot COMMAND: warning: message</c> on stderr.</summary>
    public static void Warn(string command, string message) => Console.Error.WriteLine($"darcot {command}: warning: {OneLine(message)}");

    /// <summary>Prints the cancellation notice and returns <see cref="CliInterrupt.ExitCode"/> (130).</summary>
    public static int Cancelled(string command, string message = "cancelled.")
    {
        Console.Error.WriteLine($"darcot {command}: {OneLine(message)}");
        return CliInterrupt.ExitCode;
    }

    /// <summary>
    /// Runs a command's work on a worker thread (so the process keeps handling Ctrl-C while it computes) and turns
    /// every error into one line: cancellation exits 130, expected failures (bad files, configs, devices, libtorch
    /// refusing an allocation) exit 1. Anything else is a bug: one line too, the stack trace with DARCOT_DEBUG=1.
    /// </summary>
    public static Task<int> RunAsync(string command, Func<int> work) => Task.Run(() =>
    {
        try
        {
            return work();
        }
        catch (OperationCanceledException)
        {
            return Cancelled(command);
        }
        catch (Exception e) when (IsExpected(e))
        {
            return Fail(command, Describe(e));
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("DARCOT_DEBUG") != "1")
        {
            return Fail(command, $"internal error ({e.GetType().Name}): {Describe(e)} (DARCOT_DEBUG=1 prints the stack trace)");
        }
    });

    /// <summary>Errors a user can cause and fix (as opposed to bugs).</summary>
    public static bool IsExpected(Exception e) =>
        e is DaRcotException or IOException or UnauthorizedAccessException or ArgumentException or JsonException
            or NotSupportedException or FormatException or ExternalException or OutOfMemoryException or InvalidOperationException;

    /// <summary>The message of <paramref name="e"/> for a user: no "(Parameter 'x')" or "Actual value was" suffixes,
    /// libtorch's first line only (the rest is a native stack trace).</summary>
    public static string Describe(Exception e)
    {
        switch (e)
        {
            case ExternalException:
                var first = e.Message.Split('\n')[0].Trim();
                return first.Contains("can't allocate memory", StringComparison.Ordinal)
                    ? $"not enough memory: libtorch could not allocate ({first})"
                    : "libtorch: " + first;
            case OutOfMemoryException:
                return $"not enough memory ({e.Message})";
            case ArgumentException a:
                var message = a.Message;
                if (a.ParamName is { } name) message = message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal);
                return string.Join(" ", message.Split('\n').Where(l => !l.StartsWith("Actual value was", StringComparison.Ordinal)).Select(l => l.Trim()));
            default:
                return e.Message;
        }
    }

    // Lines joined with "; ", or a space after a line that already ends a sentence.
    private static string OneLine(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var joined = new System.Text.StringBuilder();
        foreach (var line in lines)
        {
            if (joined.Length > 0) joined.Append(joined[^1] == '.' ? " " : "; ");
            joined.Append(line);
        }
        return joined.ToString();
    }
}

/// <summary>Spectre tables as plain text for standard output: no colour codes, a fixed width, so that redirected output
/// (files, tests) reads the same as a terminal.</summary>
public static class CliTables
{
    /// <summary>The table rendered at <paramref name="width"/> columns.</summary>
    public static string Render(Spectre.Console.Table table, int width = 100)
    {
        var writer = new StringWriter();
        var console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Out = new Spectre.Console.AnsiConsoleOutput(writer),
            Ansi = Spectre.Console.AnsiSupport.No,
            ColorSystem = Spectre.Console.ColorSystemSupport.NoColors,
            Interactive = Spectre.Console.InteractionSupport.No,
        });
        console.Profile.Width = width;
        console.Write(table);
        return writer.ToString();
    }
}

/// <summary>Reports on the calling thread (System.Progress posts to the thread pool, which would race a progress bar).</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    /// <inheritdoc />
    public void Report(T value) => report(value);
}
