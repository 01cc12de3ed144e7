using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>Isotropic Gaussian blur with a per-image σ drawn from a range (task <c>deblur</c>, id 5).</summary>
public sealed class GaussianBlur : IDegradation
{
    /// <summary>Creates the degradation.</summary>
    /// <param name="sigma">σ range in pixels (default 0.8–2.5).</param>
    /// <param name="padding">Border handling.</param>
    public GaussianBlur(ParameterRange? sigma = null, BlurPadding padding = BlurPadding.Reflect)
    {
        Sigma = sigma ?? new ParameterRange(0.8, 2.5);
        Sigma.Validate(nameof(sigma), 1e-3, 40);
        Padding = padding;
    }

    /// <summary>σ range in pixels.</summary>
    public ParameterRange Sigma { get; }

    /// <summary>Border handling.</summary>
    public BlurPadding Padding { get; }

    /// <inheritdoc/>
    public string Name => "gaussian_blur";

    /// <inheritdoc/>
    public int TaskId => 5;

    /// <inheritdoc/>
    public Tensor Apply(Tensor clean, torch.Generator generator)
    {
        DegradationRandom.CheckImages(clean);
        ArgumentNullException.ThrowIfNull(generator);
        var sigmas = DegradationRandom.Uniform(generator, (int)clean.shape[0], Sigma);
        return BlurKernels.Apply(clean, sigmas.Select(s => BlurKernels.Gaussian(s)).ToList(), Padding);
    }
}
