using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>
/// Low light (task <c>lowlight</c>, id 6): out = clip(s·x^γ + n, 0, 1) with an exposure scale s, a gamma γ ≥ 1 that
/// darkens mid-tones more than highlights, and optional Gaussian sensor noise n with σ on the 0–255 scale.
/// With γ = 1 and no noise the mean brightness is scaled exactly by s.
/// </summary>
public sealed class LowLight : IDegradation
{
    /// <summary>Creates the degradation.</summary>
    /// <param name="exposure">Exposure scale range (default 0.1–0.4).</param>
    /// <param name="gamma">Gamma range (default 1.0–1.6).</param>
    /// <param name="noiseSigma">Noise σ range on the 0–255 scale (default 0–6; use <see cref="ParameterRange.Fixed"/>(0) for none).</param>
    public LowLight(ParameterRange? exposure = null, ParameterRange? gamma = null, ParameterRange? noiseSigma = null)
    {
        Exposure = exposure ?? new ParameterRange(0.1, 0.4);
        Gamma = gamma ?? new ParameterRange(1.0, 1.6);
        NoiseSigma = noiseSigma ?? new ParameterRange(0, 6);
        Exposure.Validate(nameof(exposure), 0, 1);
        Gamma.Validate(nameof(gamma), 0.1, 10);
        NoiseSigma.Validate(nameof(noiseSigma), 0, 255);
    }

    /// <summary>Exposure scale range.</summary>
    public ParameterRange Exposure { get; }

    /// <summary>Gamma range.</summary>
    public ParameterRange Gamma { get; }

    /// <summary>Noise σ range (0–255 scale).</summary>
    public ParameterRange NoiseSigma { get; }

    /// <inheritdoc/>
    public string Name => "lowlight";

    /// <inheritdoc/>
    public int TaskId => 6;

    /// <inheritdoc/>
    public Tensor Apply(Tensor clean, torch.Generator generator)
    {
        DegradationRandom.CheckImages(clean);
        ArgumentNullException.ThrowIfNull(generator);
        int b = (int)clean.shape[0];
        var s = DegradationRandom.Uniform(generator, b, Exposure);
        var g = DegradationRandom.Uniform(generator, b, Gamma);
        var sigma = DegradationRandom.Uniform(generator, b, NoiseSigma);
        using var scope = torch.NewDisposeScope();
        var noise = DegradationRandom.Normal(generator, clean.shape).to(clean.dtype).to(clean.device);
        var dark = clean.Clamp01().pow(DegradationRandom.PerSample(g, clean)) * DegradationRandom.PerSample(s, clean);
        var result = dark.Plus(noise * DegradationRandom.PerSample(sigma.Select(v => v / 255.0).ToArray(), clean)).Clamp01();
        return result.MoveToOuterDisposeScope();
    }
}
