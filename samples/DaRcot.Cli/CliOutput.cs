namespace DaRcot.Cli;

/// <summary>Output conventions shared by every command.</summary>
public static class CliOutput
{
    /// <summary>Prints <c>darcot COMMAND: message</c> as ONE line on stderr and returns exit code 1. Multi-line library
    /// messages (e.g. a state_dict mismatch listing keys) are joined with "; " so scripts can grep a single line.</summary>
    public static int Fail(string command, string message)
    {
        var oneLine = string.Join("; ", message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Console.Error.WriteLine($"darcot {command}: {oneLine}");
        return 1;
    }
}

/// <summary>Reports on the calling thread (System.Progress posts to the thread pool, which would race a progress bar).</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    /// <inheritdoc />
    public void Report(T value) => report(value);
}
