using DaRcot.Rec.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>
/// Synthetic rain streaks (task <c>derain</c>, id 3): sparse random seeds smeared along a slanted line, then added to
/// the image.
/// </summary>
/// <remarks>
/// Per image: seeds are pixels where U(0,1) &lt; density, each with an intensity U(0.5,1); the seed map is convolved
/// with an anti-aliased line kernel of the drawn length, angle (degrees from vertical, positive leans right) and
/// width; overlapping streaks are capped at 1; the result is I = clip(J + brightness·S, 0, 1) in every channel (rain
/// is white). This is the additive streak model behind Rain100L-style data (a background plus a streak layer).
/// </remarks>
public sealed class RainStreaks : IDegradation
{
    private static readonly Scalar Half = Scalars.Constant(0.5);

    /// <summary>Creates the degradation (null ranges take the defaults shown).</summary>
    /// <param name="density">Seed probability per pixel (default 0.002–0.008).</param>
    /// <param name="length">Streak length in pixels (default 8–24).</param>
    /// <param name="angle">Angle from vertical in degrees (default −20..20, one angle per image).</param>
    /// <param name="width">Streak width in pixels (default 1–2).</param>
    /// <param name="brightness">Streak brightness (default 0.5–0.9).</param>
    public RainStreaks(ParameterRange? density = null, ParameterRange? length = null, ParameterRange? angle = null,
        ParameterRange? width = null, ParameterRange? brightness = null)
    {
        Density = density ?? new ParameterRange(0.002, 0.008);
        Length = length ?? new ParameterRange(8, 24);
        Angle = angle ?? new ParameterRange(-20, 20);
        Width = width ?? new ParameterRange(1, 2);
        Brightness = brightness ?? new ParameterRange(0.5, 0.9);
        Density.Validate(nameof(density), 0, 1);
        Length.Validate(nameof(length), 1, 120);
        Angle.Validate(nameof(angle), -89, 89);
        Width.Validate(nameof(width), 0.5, 10);
        Brightness.Validate(nameof(brightness), 0, 1);
    }

    /// <summary>Seed probability per pixel.</summary>
    public ParameterRange Density { get; }

    /// <summary>Streak length in pixels.</summary>
    public ParameterRange Length { get; }

    /// <summary>Angle from vertical in degrees.</summary>
    public ParameterRange Angle { get; }

    /// <summary>Streak width in pixels.</summary>
    public ParameterRange Width { get; }

    /// <summary>Streak brightness.</summary>
    public ParameterRange Brightness { get; }

    /// <inheritdoc/>
    public string Name => "derain";

    /// <inheritdoc/>
    public int TaskId => 3;

    /// <inheritdoc/>
    public Tensor Apply(Tensor clean, torch.Generator generator)
    {
        DegradationRandom.CheckImages(clean);
        ArgumentNullException.ThrowIfNull(generator);
        int b = (int)clean.shape[0];
        long h = clean.shape[2], w = clean.shape[3];
        var density = DegradationRandom.Uniform(generator, b, Density);
        var length = DegradationRandom.Uniform(generator, b, Length);
        var angle = DegradationRandom.Uniform(generator, b, Angle);
        var width = DegradationRandom.Uniform(generator, b, Width);
        var brightness = DegradationRandom.Uniform(generator, b, Brightness);
        using var scope = torch.NewDisposeScope();
        var u = DegradationRandom.Rand(generator, new long[] { b, 1, h, w });
        var intensity = DegradationRandom.Rand(generator, new long[] { b, 1, h, w }).mul(Half).Plus(Half);
        var dens = torch.tensor(density, dtype: ScalarType.Float32).reshape(b, 1, 1, 1);
        var seeds = torch.where(u < dens, intensity, torch.zeros_like(intensity)).to(clean.dtype).to(clean.device);
        var kernels = Enumerable.Range(0, b).Select(i => LineKernel(length[i], angle[i], width[i])).ToList();
        var stacked = BlurKernels.Stack(kernels).to(clean.dtype).to(clean.device).unsqueeze(1); // [B,1,k,k]
        long r = stacked.shape[2] / 2;
        var streaks = VerifiedConv2d.Apply(seeds.reshape(1, b, h, w), stacked, null, new ConvGeometry(1, 1, r, r, 1, 1, b))
            .reshape(b, 1, h, w).Clamp01();
        var result = clean.Plus(DegradationRandom.PerSample(brightness, clean) * streaks).Clamp01();
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// An anti-aliased line segment through the kernel centre (values in [0,1], not normalised: a seed of intensity s
    /// becomes a streak of intensity s).
    /// </summary>
    public static double[,] LineKernel(double length, double angleDegrees, double width)
    {
        int k = 2 * (int)Math.Ceiling(length / 2 + width) + 1;
        int c = k / 2;
        double theta = angleDegrees * Math.PI / 180;
        double dx = Math.Sin(theta), dy = Math.Cos(theta); // unit direction, (0,1) = vertical
        var kernel = new double[k, k];
        for (int y = 0; y < k; y++)
        for (int x = 0; x < k; x++)
        {
            double px = x - c, py = y - c;
            double along = Math.Clamp(px * dx + py * dy, -length / 2, length / 2);
            double ex = px - along * dx, ey = py - along * dy;
            double dist = Math.Sqrt(ex * ex + ey * ey);
            kernel[y, x] = Math.Clamp(width / 2 + 0.5 - dist, 0, 1);
        }
        return kernel;
    }
}
