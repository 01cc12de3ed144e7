using Microsoft.Extensions.Logging;

namespace DaRcot.Rec.Tests.Infrastructure;

/// <summary>An ILogger that keeps every message with its level.</summary>
public sealed class ListLogger : ILogger
{
    private readonly List<(LogLevel Level, string Message)> _entries = new();

    /// <summary>Everything logged so far.</summary>
    public IReadOnlyList<(LogLevel Level, string Message)> Entries { get { lock (_entries) return _entries.ToList(); } }

    /// <summary>The warnings (and worse) logged so far.</summary>
    public IReadOnlyList<string> Warnings => Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => e.Message).ToList();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries) _entries.Add((logLevel, formatter(state, exception)));
    }
}
