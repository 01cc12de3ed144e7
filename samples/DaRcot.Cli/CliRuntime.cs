using System.CommandLine;
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

    /// <summary><c>--threads N</c>, accepted by every command (recursive on the root): libtorch's intra-op CPU threads
    /// for the run; without it <c>DARCOT_THREADS</c>, else libtorch's choice (one per core).</summary>
    public static Option<int?> Threads { get; } = new("--threads")
    {
        Description = "Intra-op CPU threads for libtorch (default: DARCOT_THREADS, else one per core).",
        Recursive = true,
    };

    /// <summary>A new <c>--precision fp32|bf16</c> option for a command that runs a network forward (restore, eval, demo,
    /// bench): bf16 is the library's bfloat16 mixed precision (<see cref="MixedPrecision"/>).</summary>
    public static Option<string> PrecisionOption() => new("--precision")
    {
        Description = "fp32 (default) or bf16: bfloat16 mixed precision for the forward pass (faster on CPUs with bfloat16 instructions; float32 output).",
        DefaultValueFactory = _ => "fp32",
    };

    /// <summary>Parses a <c>--precision</c> value (throws <see cref="ModelConfigException"/> naming the option).</summary>
    public static InferencePrecision ParsePrecision(string? value) => MixedPrecision.Parse(value ?? "fp32", "--precision");

    /// <summary>Applies a parsed <c>--threads</c>; returns an error message for a value below 1, otherwise null.</summary>
    public static string? ApplyThreads(ParseResult parsed)
    {
        var threads = parsed.GetValue(Threads);
        if (threads is null) return null;
        if (threads < 1) return $"--threads must be at least 1, got {threads}.";
        TorchRuntime.Configure(Options() with { Threads = threads });
        return null;
    }

    /// <summary>Configures the runtime; returns an error message (for <see cref="CliOutput.Fail"/>) when the environment
    /// holds a value that is not understood, otherwise null.</summary>
    public static string? Initialize()
    {
        try
        {
            TorchRuntime.Configure(Options());
            return null;
        }
        catch (ModelConfigException ex)
        {
            return ex.Message;
        }
    }

    // The environment's settings with warnings to standard error; --threads overrides the thread count.
    private static TorchRuntimeOptions Options() => TorchRuntimeOptions.FromEnvironment() with { Logger = Loggers.Value.CreateLogger("darcot") };
}
