using DaRcot.Rec.Errors;
using Microsoft.Extensions.Logging;

namespace DaRcot.Rec.Runtime;

/// <summary>
/// libtorch's process-wide settings as the library applies them (<see cref="TorchRuntime.Configure"/>). Without a
/// call, <see cref="FromEnvironment"/> applies at first use: <c>DARCOT_THREADS</c> (intra-op threads) and
/// <c>DARCOT_CONVOLUTIONS</c> (<c>verified</c>, <c>trusted</c> or <c>onednn-disabled</c>).
/// </summary>
public sealed record TorchRuntimeOptions
{
    /// <summary>Intra-op CPU threads (<c>torch.set_num_threads</c>); null leaves libtorch's choice (one per physical core).</summary>
    public int? Threads { get; init; }

    /// <summary>How convolutions use oneDNN; default <see cref="ConvolutionPolicy.Verified"/>.</summary>
    public ConvolutionPolicy Convolutions { get; init; } = ConvolutionPolicy.Verified;

    /// <summary>Turn NNPACK off (default). Where the CPU is not supported by NNPACK, libtorch otherwise tries to start it
    /// again and again, printing "Could not initialize NNPACK!" each time; on x86 CPUs oneDNN serves the same
    /// convolutions, so nothing is lost.</summary>
    public bool DisableNnpack { get; init; } = true;

    /// <summary>Where the runtime reports what it did (e.g. a convolution that needed a slower path). Null: no logging.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>The defaults, overridden by <c>DARCOT_THREADS</c> and <c>DARCOT_CONVOLUTIONS</c> when set.</summary>
    /// <exception cref="ModelConfigException">An environment variable holds a value that is not understood.</exception>
    public static TorchRuntimeOptions FromEnvironment()
    {
        var options = new TorchRuntimeOptions();
        var threads = Environment.GetEnvironmentVariable("DARCOT_THREADS");
        if (!string.IsNullOrWhiteSpace(threads))
        {
            if (!int.TryParse(threads, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) || n < 1)
                throw new ModelConfigException("DARCOT_THREADS", $"'{threads}' is not a positive whole number of threads.");
            options = options with { Threads = n };
        }
        var policy = Environment.GetEnvironmentVariable("DARCOT_CONVOLUTIONS");
        if (!string.IsNullOrWhiteSpace(policy)) options = options with { Convolutions = ParsePolicy(policy, "DARCOT_CONVOLUTIONS") };
        return options;
    }

    /// <summary>Parses <c>verified</c>, <c>trusted</c> or <c>onednn-disabled</c> (case-insensitive).</summary>
    /// <exception cref="ModelConfigException">Any other value; the message lists the valid ones.</exception>
    public static ConvolutionPolicy ParsePolicy(string value, string field)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.Trim().ToLowerInvariant() switch
        {
            "verified" => ConvolutionPolicy.Verified,
            "trusted" => ConvolutionPolicy.Trusted,
            "onednn-disabled" or "onednndisabled" => ConvolutionPolicy.OneDnnDisabled,
            _ => throw new ModelConfigException(field, $"'{value}' is not a convolution policy; use verified, trusted or onednn-disabled."),
        };
    }
}
