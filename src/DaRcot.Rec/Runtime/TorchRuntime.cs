using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;

namespace DaRcot.Rec.Runtime;

/// <summary>
/// Owns libtorch's process-wide configuration for the library: intra-op threads, how convolutions use oneDNN
/// (<see cref="ConvolutionPolicy"/>) and NNPACK. Nothing has to be called: the first convolution applies
/// <see cref="TorchRuntimeOptions.FromEnvironment"/>. Call <see cref="Configure"/> to choose otherwise (any time; it
/// re-applies), and <see cref="Describe"/> to see the state (what <c>darcot doctor</c> prints).
/// </summary>
public static class TorchRuntime
{
    private static readonly object Gate = new();
    private static TorchRuntimeOptions? applied;

    /// <summary>The logger of the applied options (a no-op logger when none was given).</summary>
    public static ILogger Logger => applied?.Logger ?? NullLogger.Instance;

    /// <summary>The options in force (applying the environment defaults first if nothing was applied yet).</summary>
    public static TorchRuntimeOptions Options => EnsureInitialized();

    /// <summary>Applies <paramref name="options"/> to libtorch now.</summary>
    public static void Configure(TorchRuntimeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        lock (Gate) Apply(options);
    }

    /// <summary>Applies the environment defaults once, unless <see cref="Configure"/> ran first; returns the options in force.
    /// Cheap after the first call.</summary>
    public static TorchRuntimeOptions EnsureInitialized()
    {
        var current = Volatile.Read(ref applied);
        if (current is not null) return current;
        lock (Gate) return applied ?? Apply(TorchRuntimeOptions.FromEnvironment());
    }

    private static TorchRuntimeOptions Apply(TorchRuntimeOptions options)
    {
        if (options.Threads is int n)
        {
            if (n < 1) throw new ArgumentOutOfRangeException(nameof(options), n, "Threads must be at least 1.");
            torch.set_num_threads(n);
        }
        var logger = options.Logger ?? NullLogger.Instance;
        if (!LibTorchContext.IsAvailable && (options.DisableNnpack || options.Convolutions == ConvolutionPolicy.OneDnnDisabled))
            logger.LogWarning("libtorch's oneDNN/NNPACK switches are unavailable here ({Problem}); they keep libtorch's defaults.", LibTorchContext.Problem);
        if (options.DisableNnpack) LibTorchContext.NnpackEnabled = false;
        LibTorchContext.OneDnnEnabled = options.Convolutions != ConvolutionPolicy.OneDnnDisabled;
        Volatile.Write(ref applied, options);
        return options;
    }

    /// <summary>
    /// Runs <paramref name="work"/> with a fresh verification record, so that every convolution key it uses is verified
    /// anew (forward, and gradients where it runs autograd) whatever was verified before, and returns what was decided
    /// for each key — e.g. one forward and backward pass of a model tells which of its convolutions need a slower path.
    /// </summary>
    public static IReadOnlyList<ConvolutionDecision> VerifyConvolutions(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        EnsureInitialized();
        var guard = new ConvolutionGuard(ConvolutionGuard.NativeConvolution);
        using (ConvolutionGuard.Use(guard)) work();
        return guard.Decisions;
    }

    /// <summary>Versions, CPU, threads, switch states, the convolution keys verified so far and — when
    /// <paramref name="runKnownDefectProbes"/> — the result of each known-defect probe (tens of milliseconds).</summary>
    public static RuntimeReport Describe(bool runKnownDefectProbes = true)
    {
        var options = EnsureInitialized();
        var probes = runKnownDefectProbes ? KnownDefectProbes.RunAll() : [];
        return new RuntimeReport(
            TorchSharpVersion: typeof(torch).Assembly.GetName().Version?.ToString() ?? "unknown",
            LibTorchVersion: torch.__version__,
            Cpu: CpuDescription.Current,
            Threads: torch.get_num_threads(),
            Convolutions: options.Convolutions,
            OneDnnEnabled: LibTorchContext.OneDnnEnabled,
            NnpackEnabled: LibTorchContext.NnpackEnabled,
            SwitchesProblem: LibTorchContext.Problem,
            VerifiedConvolutions: ConvolutionGuard.Shared.Decisions,
            KnownDefects: probes);
    }
}

/// <summary>What <see cref="TorchRuntime.Describe"/> found.</summary>
/// <param name="TorchSharpVersion">The TorchSharp assembly version.</param>
/// <param name="LibTorchVersion">The libtorch version TorchSharp was built against.</param>
/// <param name="Cpu">CPU model and the instruction sets that matter to libtorch's kernels.</param>
/// <param name="Threads">Current intra-op thread count.</param>
/// <param name="Convolutions">The convolution policy in force.</param>
/// <param name="OneDnnEnabled">libtorch's oneDNN switch (null: unknown on this platform).</param>
/// <param name="NnpackEnabled">libtorch's NNPACK switch (null: unknown on this platform).</param>
/// <param name="SwitchesProblem">Why the switches are unknown, when they are.</param>
/// <param name="VerifiedConvolutions">Every convolution key verified so far in this process, with its path.</param>
/// <param name="KnownDefects">Each known-defect probe with its measured errors.</param>
public sealed record RuntimeReport(
    string TorchSharpVersion, string LibTorchVersion, CpuDescription Cpu, int Threads, ConvolutionPolicy Convolutions,
    bool? OneDnnEnabled, bool? NnpackEnabled, string? SwitchesProblem,
    IReadOnlyList<ConvolutionDecision> VerifiedConvolutions, IReadOnlyList<DefectProbeResult> KnownDefects);
