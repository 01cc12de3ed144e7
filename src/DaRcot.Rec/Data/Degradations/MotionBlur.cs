using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>
/// Motion blur along a random camera-shake trajectory (one kernel per image, see <see cref="BlurKernels.Motion"/>),
/// the synthetic stand-in for the GoPro deblurring task (task <c>deblur</c>, id 5).
/// </summary>
public sealed class MotionBlur : IDegradation
{
    private const int Steps = 64;

    /// <summary>Creates the degradation.</summary>
    /// <param name="kernelSize">Odd kernel side length (default 21).</param>
    /// <param name="length">Trajectory length range in pixels (default 5–17).</param>
    /// <param name="shake">How much the trajectory bends (0 = straight lines).</param>
    /// <param name="padding">Border handling.</param>
    public MotionBlur(int kernelSize = 21, ParameterRange? length = null, double shake = 0.35, BlurPadding padding = BlurPadding.Reflect)
    {
        if (kernelSize < 3 || kernelSize % 2 == 0) throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, "kernelSize must be odd and >= 3.");
        KernelSize = kernelSize;
        Length = length ?? new ParameterRange(5, 17);
        Length.Validate(nameof(length), 0, kernelSize * 2);
        Shake = shake;
        Padding = padding;
    }

    /// <summary>Kernel side length.</summary>
    public int KernelSize { get; }

    /// <summary>Trajectory length range in pixels.</summary>
    public ParameterRange Length { get; }

    /// <summary>Trajectory bending strength.</summary>
    public double Shake { get; }

    /// <summary>Border handling.</summary>
    public BlurPadding Padding { get; }

    /// <inheritdoc/>
    public string Name => "deblur";

    /// <inheritdoc/>
    public int TaskId => 5;

    /// <summary>The kernels <see cref="Apply"/> would use for a batch of <paramref name="count"/> with this generator state.</summary>
    public IReadOnlyList<double[,]> DrawKernels(int count, torch.Generator generator)
    {
        var lengths = DegradationRandom.Uniform(generator, count, Length);
        var kernels = new List<double[,]>(count);
        for (int i = 0; i < count; i++)
        {
            var u = DegradationRandom.Uniform(generator, 2 * Steps + 1, new ParameterRange(0, 1));
            kernels.Add(BlurKernels.Motion(KernelSize, lengths[i], u, Steps, Shake));
        }
        return kernels;
    }

    /// <inheritdoc/>
    public Tensor Apply(Tensor clean, torch.Generator generator)
    {
        DegradationRandom.CheckImages(clean);
        ArgumentNullException.ThrowIfNull(generator);
        using var blurred = BlurKernels.Apply(clean, DrawKernels((int)clean.shape[0], generator), Padding);
        return blurred.Clamp01();
    }
}
