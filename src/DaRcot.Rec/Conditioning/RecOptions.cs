using DaRcot.Rec.Imaging;
namespace DaRcot.Rec.Conditioning;

/// <summary>Options of the generic residual-conditioned map (<see cref="ResidualConditionedMap"/>).</summary>
public sealed record RecOptions
{
    /// <summary>Stop gradients at the pass-1 image before the residual is formed. The official DA-RCOT does not
    /// (default <c>false</c>): gradients then reach pass 1 through r → REGM → the conditions.</summary>
    public bool DetachFirstPass { get; init; }

    /// <summary>When the backbone implements <see cref="ISplitConditionedBackbone"/>, run its encoder once and only
    /// its decoder twice, as DA-RCOT does (default <c>true</c>; the values are the same either way).</summary>
    public bool ShareEncoder { get; init; } = true;

    /// <summary>The condition operator (default zero-initialised projection, for wrapping pretrained backbones).</summary>
    public InjectorKind Injector { get; init; } = InjectorKind.ZeroInitProjection;

    /// <summary>
    /// Downscales to condition (each of 1, 2, 4, 8); <c>null</c> = every point the backbone declares at those
    /// downscales. A requested downscale the backbone has no point at (MPRNet has no 1/8 level) is skipped: it is
    /// listed in <see cref="ResidualConditionedMap.SkippedDownscales"/> and logged as a warning. Points the backbone
    /// declares at other downscales (e.g. 1/16) are never conditioned.
    /// </summary>
    public IReadOnlyList<int>? Downscales { get; init; }

    /// <summary>
    /// Downscale of the REGM's deepest level, whose output is the dense embedding (<see cref="RecOutput.DenseEmbedding"/>).
    /// Default 8, like DA-RCOT's R3, also for backbones that have no 1/8 condition point: the REGM then still encodes
    /// down to 1/8 and decodes back to the coarsest conditioned level. The backbone's size multiple is raised to
    /// this value for padding.
    /// </summary>
    public int DenseDownscale { get; init; } = 8;

    /// <summary>Width and depth of the REGM.</summary>
    public RegmOptions Regm { get; init; } = new();

    /// <summary>How inputs are padded bottom/right to the size multiple (cropped back at the end).</summary>
    public PadMode PadMode { get; init; } = PadMode.Replicate;
}
