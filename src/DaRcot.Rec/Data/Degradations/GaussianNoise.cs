using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>
/// Additive white Gaussian noise with σ on the 0–255 scale, as the official pipeline synthesises it
/// (<c>util/degradation_utils.py</c>, <c>tester_noise.py</c>).
/// </summary>
/// <remarks>
/// <para>With <see cref="Quantize"/> (the default, the official behaviour): the clean image is taken to 8 bit
/// (round(x·255)), noisy = clip(clean8 + N(0,1)·σ, 0, 255), then truncated to an integer (numpy's <c>astype(uint8)</c>
/// truncates; after clipping the values are ≥ 0, so truncation is a floor) and divided by 255. The truncation biases
/// the result by −0.5/255 on average and adds a uniform error of variance 1/12 (in 8-bit units), so the empirical
/// standard deviation of noisy − clean is √(σ² + 1/12) in 8-bit units before clipping.</para>
/// <para>Without quantisation: noisy = clip(clean + N(0,1)·σ/255, 0, 1) in floating point (clipping can be turned
/// off with <see cref="Clip"/>).</para>
/// </remarks>
public sealed class GaussianNoise : IDegradation
{
    private static readonly Scalar EightBitMax = Scalars.Constant(255.0);

    /// <summary>Creates the degradation.</summary>
    /// <param name="sigma">Noise standard deviation on the 0–255 scale (the task levels are 15, 25, 50).</param>
    /// <param name="quantize">Official 8-bit quantisation with truncation (default true).</param>
    /// <param name="clip">Clip to [0,1] (always done when quantising).</param>
    /// <param name="name">Task name; default <c>denoise_{σ}</c>.</param>
    /// <param name="taskId">Task id; default the official id for σ = 15/25/50 (0/1/2), otherwise 7 (other).</param>
    public GaussianNoise(double sigma, bool quantize = true, bool clip = true, string? name = null, int? taskId = null)
    {
        if (!double.IsFinite(sigma) || sigma < 0) throw new ArgumentOutOfRangeException(nameof(sigma), sigma, "sigma must be finite and >= 0.");
        Sigma = sigma;
        Quantize = quantize;
        Clip = clip || quantize;
        Name = name ?? $"denoise_{sigma:0.##}";
        TaskId = taskId ?? sigma switch { 15 => 0, 25 => 1, 50 => 2, _ => DegradationRegistry.SingleTaskId };
    }

    /// <summary>σ on the 0–255 scale.</summary>
    public double Sigma { get; }

    /// <summary>Whether the output is quantised to 8 bit with truncation (official).</summary>
    public bool Quantize { get; }

    /// <summary>Whether the output is clipped to [0,1].</summary>
    public bool Clip { get; }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public int TaskId { get; }

    /// <inheritdoc/>
    public Tensor Apply(Tensor clean, torch.Generator generator)
    {
        DegradationRandom.CheckImages(clean);
        ArgumentNullException.ThrowIfNull(generator);
        using var scope = torch.NewDisposeScope();
        var noise = DegradationRandom.Normal(generator, clean.shape).to(clean.dtype).to(clean.device);
        Tensor result;
        if (Quantize)
        {
            var clean8 = clean.Clamp01().mul(EightBitMax).round();
            result = clean8.Plus(noise.Times(Sigma)).clamp(Scalars.ZeroReal, EightBitMax).floor().div(EightBitMax);
        }
        else
        {
            result = clean.Plus(noise.Times(Sigma / 255.0));
            if (Clip) result = result.Clamp01();
        }
        return result.MoveToOuterDisposeScope();
    }
}
