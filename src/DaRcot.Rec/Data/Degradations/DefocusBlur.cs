using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>Defocus (disk) blur with a per-image radius drawn from a range (task <c>deblur</c>, id 5).</summary>
public sealed class DefocusBlur : IDegradation
{
    /// <summary>Creates the degradation.</summary>
    /// <param name="radius">Disk radius range in pixels (default 1.5–4).</param>
    /// <param name="padding">Border handling.</param>
    public DefocusBlur(ParameterRange? radius = null, BlurPadding padding = BlurPadding.Reflect)
    {
        Radius = radius ?? new ParameterRange(1.5, 4);
        Radius.Validate(nameof(radius), 1e-3, 100);
        Padding = padding;
    }

    /// <summary>Radius range in pixels.</summary>
    public ParameterRange Radius { get; }

    /// <summary>Border handling.</summary>
    public BlurPadding Padding { get; }

    /// <inheritdoc/>
    public string Name => "defocus_blur";

    /// <inheritdoc/>
    public int TaskId => 5;

    /// <inheritdoc/>
    public Tensor Apply(Tensor clean, torch.Generator generator)
    {
        DegradationRandom.CheckImages(clean);
        ArgumentNullException.ThrowIfNull(generator);
        var radii = DegradationRandom.Uniform(generator, (int)clean.shape[0], Radius);
        return BlurKernels.Apply(clean, radii.Select(r => BlurKernels.Disk(r)).ToList(), Padding);
    }
}
