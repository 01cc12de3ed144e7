using Microsoft.Extensions.Logging;

namespace DaRcot.Cli;

/// <summary>Library warnings as <c>darcot COMMAND: warning: ...</c> lines on stderr (information is not shown).</summary>
public sealed class CliLogger(string command) : ILogger
{
    /// <inheritdoc />
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    /// <inheritdoc />
    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    /// <inheritdoc />
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel)) CliOutput.Warn(command, formatter(state, exception));
    }
}
