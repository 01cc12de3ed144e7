using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>
/// Haze by the atmospheric scattering model I = J·t + A·(1 − t), t = exp(−β·d) (task <c>dehaze</c>, id 4).
/// </summary>
/// <remarks>
/// <para>Real haze datasets (RESIDE/SOTS) use measured or estimated depth. Without depth we use a proxy
/// (<see cref="DepthProxy"/>) in [0,1]: d = 0.6·v + 0.4·L̄, where v = 1 − row/(H−1) grows toward the top of the picture
/// (in ordinary photos the top is usually sky or far background) and L̄ is the luminance blurred to a coarse 8×8 grid
/// and upsampled (bright, smooth regions are more often sky or distant haze than near objects). The proxy is
/// smooth, so the transmission has no texture of its own, and it is larger at the top, as in outdoor scenes.</para>
/// <para>β and the airlight A (grey, the same in every channel) are drawn per image from their ranges. With the
/// defaults t ranges over [exp(−1.8), 1] ≈ [0.17, 1].</para>
/// </remarks>
public sealed class Haze : IDegradation
{
    private static readonly Scalar LumaR = Scalars.Constant(0.299), LumaG = Scalars.Constant(0.587), LumaB = Scalars.Constant(0.114);
    private static readonly Scalar VerticalWeight = Scalars.Constant(0.6), LuminanceWeight = Scalars.Constant(0.4);

    /// <summary>Creates the degradation.</summary>
    /// <param name="beta">Scattering coefficient range per unit proxy depth (default 0.6–1.8).</param>
    /// <param name="airlight">Airlight range in [0,1] (default 0.7–1.0).</param>
    public Haze(ParameterRange? beta = null, ParameterRange? airlight = null)
    {
        Beta = beta ?? new ParameterRange(0.6, 1.8);
        Airlight = airlight ?? new ParameterRange(0.7, 1.0);
        Beta.Validate(nameof(beta), 0, 100);
        Airlight.Validate(nameof(airlight), 0, 1);
    }

    /// <summary>β range.</summary>
    public ParameterRange Beta { get; }

    /// <summary>Airlight range.</summary>
    public ParameterRange Airlight { get; }

    /// <inheritdoc/>
    public string Name => "dehaze";

    /// <inheritdoc/>
    public int TaskId => 4;

    /// <inheritdoc/>
    public Tensor Apply(Tensor clean, torch.Generator generator)
    {
        DegradationRandom.CheckImages(clean);
        ArgumentNullException.ThrowIfNull(generator);
        int b = (int)clean.shape[0];
        var betas = DegradationRandom.Uniform(generator, b, Beta);
        var airlights = DegradationRandom.Uniform(generator, b, Airlight);
        using var scope = torch.NewDisposeScope();
        var depth = DepthProxy(clean);
        return Scatter(clean, depth, betas, airlights).MoveToOuterDisposeScope();
    }

    /// <summary>The depth proxy d ∈ [0,1], <c>[B,1,H,W]</c> (see the class remarks).</summary>
    public static Tensor DepthProxy(Tensor clean)
    {
        DegradationRandom.CheckImages(clean);
        using var scope = torch.NewDisposeScope();
        long b = clean.shape[0], c = clean.shape[1], h = clean.shape[2], w = clean.shape[3];
        var lum = c == 3
            ? clean.narrow(1, 0, 1).mul(LumaR).Plus(clean.narrow(1, 1, 1).mul(LumaG)).Plus(clean.narrow(1, 2, 1).mul(LumaB))
            : clean.mean(new long[] { 1 }, keepdim: true);
        var coarse = torch.nn.functional.adaptive_avg_pool2d(lum, new long[] { Math.Min(8, h), Math.Min(8, w) });
        var smooth = torch.nn.functional.interpolate(coarse, size: new long[] { h, w }, mode: InterpolationMode.Bilinear, align_corners: false);
        var rows = h > 1 ? torch.linspace(1.0, 0.0, h, dtype: clean.dtype, device: clean.device) : torch.ones(1, dtype: clean.dtype, device: clean.device);
        var vertical = rows.reshape(1, 1, h, 1).expand(b, 1, h, w);
        return vertical.mul(VerticalWeight).Plus(smooth.mul(LuminanceWeight)).Clamp01().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The scattering model with explicit parameters: I = J·t + A·(1 − t), t = exp(−β·d), clamped to [0,1].
    /// </summary>
    /// <param name="clean">J, <c>[B,C,H,W]</c>.</param>
    /// <param name="depth">d ≥ 0, <c>[B,1,H,W]</c> (or broadcastable).</param>
    /// <param name="beta">β per image (length B).</param>
    /// <param name="airlight">A per image (length B), in [0,1].</param>
    public static Tensor Scatter(Tensor clean, Tensor depth, double[] beta, double[] airlight)
    {
        DegradationRandom.CheckImages(clean);
        ArgumentNullException.ThrowIfNull(depth);
        ArgumentNullException.ThrowIfNull(beta);
        ArgumentNullException.ThrowIfNull(airlight);
        if (beta.Length != clean.shape[0] || airlight.Length != clean.shape[0])
            throw new TensorArgumentException(nameof(beta), $"needs one β and one A per image ({clean.shape[0]}); got {beta.Length} and {airlight.Length}.");
        using var scope = torch.NewDisposeScope();
        var t = torch.exp(-DegradationRandom.PerSample(beta, clean) * depth.to(clean.dtype).to(clean.device));
        var a = DegradationRandom.PerSample(airlight, clean);
        return (clean * t).Plus(a * t.SubtractedFrom(Scalars.OneReal)).Clamp01().MoveToOuterDisposeScope();
    }
}
