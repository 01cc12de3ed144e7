using System.Text.Json.Serialization;
using DaRcot.Rec.Backbones.Blocks;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Backbones;

/// <summary>
/// The constructor arguments of the official <c>Restormer</c> class, under their official names so that the
/// JSON form is exactly the official keyword arguments (e.g. <c>{"dim": 48, "LayerNorm_type": "BiasFree"}</c>).
/// Every default equals the official default.
/// </summary>
public sealed record RestormerConfig : Models.IConfigWarnings
{
    /// <summary>Input image channels (3 RGB, 1 grey, 6 for the dual-pixel [L,R] pair).</summary>
    [JsonPropertyName("inp_channels")] public int InpChannels { get; init; } = 3;

    /// <summary>Output image channels.</summary>
    [JsonPropertyName("out_channels")] public int OutChannels { get; init; } = 3;

    /// <summary>Width of level 1 (levels 2, 3 and the latent use 2·, 4·, 8·dim).</summary>
    [JsonPropertyName("dim")] public int Dim { get; init; } = 48;

    /// <summary>Transformer blocks in encoder levels 1–3 and the latent (4 entries; decoders mirror 1–3).</summary>
    [JsonPropertyName("num_blocks")] public int[] NumBlocks { get; init; } = [4, 6, 6, 8];

    /// <summary>Transformer blocks of the refinement stage.</summary>
    [JsonPropertyName("num_refinement_blocks")] public int NumRefinementBlocks { get; init; } = 4;

    /// <summary>Attention heads at levels 1–3 and the latent (4 entries).</summary>
    [JsonPropertyName("heads")] public int[] Heads { get; init; } = [1, 2, 4, 8];

    /// <summary>GDFN hidden width factor; hidden = floor(channels·factor).</summary>
    [JsonPropertyName("ffn_expansion_factor")] public double FfnExpansionFactor { get; init; } = 2.66;

    /// <summary>Conv biases in the transformer blocks, reduction convs and output conv (false in every release).</summary>
    [JsonPropertyName("bias")] public bool Bias { get; init; }

    /// <summary><c>"WithBias"</c> or <c>"BiasFree"</c>; like the official code, any string other than
    /// <c>"BiasFree"</c> selects WithBias.</summary>
    [JsonPropertyName("LayerNorm_type")] public string LayerNormTypeName { get; init; } = "WithBias";

    /// <summary>Dual-pixel defocus deblurring: 6 input channels, a <c>skip_conv</c> and no image residual.</summary>
    [JsonPropertyName("dual_pixel_task")] public bool DualPixelTask { get; init; }

    /// <summary>The layer norm flavour <see cref="LayerNormTypeName"/> selects.</summary>
    [JsonIgnore]
    public LayerNormType LayerNorm => LayerNormTypeName == "BiasFree" ? LayerNormType.BiasFree : LayerNormType.WithBias;

    /// <summary>Values kept for fidelity with the official code but worth a warning: a <c>LayerNorm_type</c> other
    /// than the two official names (the official code silently builds WithBias for any of them, and so do we).</summary>
    IEnumerable<string> Models.IConfigWarnings.Warnings()
    {
        if (LayerNormTypeName is not ("WithBias" or "BiasFree"))
            yield return $"LayerNorm_type '{LayerNormTypeName}' is neither 'WithBias' nor 'BiasFree'; like the official code, WithBias is used.";
    }

    /// <summary>Throws <see cref="ModelConfigException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (InpChannels < 1) throw new ModelConfigException("inp_channels", $"must be ≥ 1 (got {InpChannels}).");
        if (OutChannels < 1) throw new ModelConfigException("out_channels", $"must be ≥ 1 (got {OutChannels}).");
        if (Dim < 2 || Dim % 2 != 0)
            throw new ModelConfigException("dim", $"must be a positive even number (the first downsample halves it before PixelUnshuffle; got {Dim}).");
        if (NumBlocks is null || NumBlocks.Length != 4)
            throw new ModelConfigException("num_blocks", $"needs 4 entries (levels 1–3 and the latent; got {NumBlocks?.Length ?? 0}).");
        if (NumBlocks.Any(n => n < 1)) throw new ModelConfigException("num_blocks", "every entry must be ≥ 1.");
        if (NumRefinementBlocks < 0)
            throw new ModelConfigException("num_refinement_blocks", $"must be ≥ 0 (got {NumRefinementBlocks}).");
        if (Heads is null || Heads.Length != 4)
            throw new ModelConfigException("heads", $"needs 4 entries (levels 1–3 and the latent; got {Heads?.Length ?? 0}).");
        // Level widths: dim, 2·dim, 4·dim, 8·dim; decoder level 1 and refinement run at 2·dim with heads[0].
        for (var i = 0; i < 4; i++)
        {
            var width = Dim << i;
            if (Heads[i] < 1 || width % Heads[i] != 0)
                throw new ModelConfigException("heads", $"heads[{i}] = {Heads[i]} must divide the level-{i + 1} width {width}.");
        }
        if ((2 * Dim) % Heads[0] != 0)
            throw new ModelConfigException("heads", $"heads[0] = {Heads[0]} must divide the decoder-level-1 width {2 * Dim}.");
        if (!(FfnExpansionFactor > 0) || double.IsInfinity(FfnExpansionFactor) || GatedDconvFeedForward.HiddenWidth(Dim, FfnExpansionFactor) < 1)
            throw new ModelConfigException("ffn_expansion_factor", $"must give a hidden width ≥ 1 at dim {Dim} (got {FfnExpansionFactor}).");
    }
}
