using DaRcot.Rec.Errors;
using DaRcot.Rec.Runtime;
using Microsoft.Extensions.Logging;

namespace DaRcot.Cli;

/// <summary>Applies the library's native-runtime settings for a darcot run: <c>DARCOT_THREADS</c> and
/// <c>DARCOT_CONVOLUTIONS</c> from the environment, and runtime warnings (e.g. a convolution that libtorch computes wrongly
/// on this machine and that now takes a slower, verified path) as single lines on standard error.</summary>
public static class CliRuntime
{
    // Warnings only, and all of them on standard error, so that JSON or tables on standard output stay clean.
    private static readonly Lazy<ILoggerFactory> Loggers = new(() => LoggerFactory.Create(b => b
        .SetMinimumLevel(LogLevel.Warning)
        .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
        .AddSimpleConsole(o => o.SingleLine = true)));

    /// <summary>Configures the runtime; returns an error message (for <see cref="CliOutput.Fail"/>) when the environment
    /// holds a value that is not understood, otherwise null.</summary>
    public static string? Initialize()
    {
        try
        {
            TorchRuntime.Configure(TorchRuntimeOptions.FromEnvironment() with { Logger = Loggers.Value.CreateLogger("darcot") });
            return null;
        }
        catch (ModelConfigException ex)
        {
            return ex.Message;
        }
    }
}
