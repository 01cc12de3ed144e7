using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Runtime;

/// <summary>One known-defect probe: libtorch's own kernel on one shape at one thread count, against the float64 reference.</summary>
/// <param name="Name">Short name, e.g. <c>conv3x3-24in-forward</c>.</param>
/// <param name="Description">What the probe exercises and where it was seen wrong.</param>
/// <param name="Threads">Intra-op threads the probe ran with.</param>
/// <param name="ForwardError">Relative error of the forward values (∞ for NaN).</param>
/// <param name="InputGradientError">Relative error of the input-gradient.</param>
/// <param name="WeightGradientError">Relative error of the weight-gradient.</param>
/// <param name="Defective">Whether any error exceeds the float32 tolerance.</param>
public sealed record DefectProbeResult(string Name, string Description, int Threads, double ForwardError, double InputGradientError, double WeightGradientError, bool Defective);

/// <summary>
/// The convolution defects measured on this project's machine (<c>shared/notes/libtorch-defects.md</c>), each as a
/// probe that runs libtorch's kernel directly — not through <see cref="ConvolutionGuard"/> — so that a report shows
/// whether this machine has them. The library does not need these to be safe (every key is verified on first use);
/// they tell a user what was found.
/// </summary>
internal static class KnownDefectProbes
{
    private sealed record Case(string Name, string Description, long InChannels, long OutChannels, long Kernel, long Size, bool ChannelsLast);

    private static readonly Case[] Cases =
    [
        new("conv3x3-24in", "3×3 conv 24→48 (input channels > 20, not a multiple of 16), 32×32: forward seen 21-45% wrong", 24, 48, 3, 32, false),
        new("conv3x3-40in", "3×3 conv 40→40 (MPRNet-deraining widths), 32×32", 40, 40, 3, 32, false),
        new("conv1x1-channels-last", "1×1 conv 16→42 on a channels-last input, 64×64: forward seen 65-76% wrong with 2 threads", 16, 42, 1, 64, true),
        new("conv3x3-48to3-grad", "3×3 conv 48→3 (a model's output conv), 64×64: input-gradient seen 40-90% wrong or NaN", 48, 3, 3, 64, false),
        new("conv3x3-96to3-grad", "3×3 conv 96→3 (Restormer's output conv), 32×32: input-gradient seen wrong", 96, 3, 3, 32, false),
        new("conv3x3-48to24-grad", "3×3 conv 48→24 (Restormer's downsample), 64×64: input-gradient seen 25-42% wrong", 48, 24, 3, 64, false),
    ];

    /// <summary>Runs every probe at each of <paramref name="threadCounts"/> (default 1 and 2), restoring the thread count after.</summary>
    public static IReadOnlyList<DefectProbeResult> RunAll(IReadOnlyList<int>? threadCounts = null)
    {
        var before = torch.get_num_threads();
        var results = new List<DefectProbeResult>();
        try
        {
            foreach (var threads in threadCounts ?? [1, 2])
            {
                torch.set_num_threads(threads);
                foreach (var c in Cases) results.Add(Run(c, threads));
            }
        }
        finally
        {
            torch.set_num_threads(before);
        }
        return results;
    }

    private static DefectProbeResult Run(Case c, int threads)
    {
        var g = new ConvGeometry(1, 1, c.Kernel / 2, c.Kernel / 2, 1, 1, 1);
        var key = new ConvolutionKey(1, c.InChannels, c.Size, c.Size, c.OutChannels, c.Kernel, c.Kernel, g, c.ChannelsLast, threads, ScalarType.Float32, false);
        var outcome = ConvolutionGuard.Measure((x, w, b) => ConvolutionGuard.NativeConvolution(x, w, b, g), key,
            [c.OutChannels, c.InChannels, c.Kernel, c.Kernel], null, g, backward: true);
        var tolerance = ConvolutionGuard.ToleranceFor(ScalarType.Float32);
        return new DefectProbeResult(c.Name, c.Description, threads, outcome.Forward.RelativeError,
            outcome.InputGradient?.RelativeError ?? 0, outcome.WeightGradient?.RelativeError ?? 0, outcome.Problem(tolerance) is not null);
    }
}
