using System.Text.Json;
using System.Text.Json.Serialization;
using DaRcot.Rec.Backbones.Blocks;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Models;

/// <summary>
/// Constructor arguments of the official DA-RCOT transport network (class <c>MRCNet</c> in <c>model_res.py</c>),
/// under their official names so the <c>config</c> objects of official runs and of the parity fixtures parse as they are.
/// Omitted fields take the official defaults, except <see cref="Decoder"/>, which defaults to <c>true</c> because the
/// official trainer always builds <c>MRCNet(decoder=True)</c>.
/// </summary>
public sealed record DaRcotConfig
{
    /// <summary>Channels of the degraded input (official <c>inp_channels</c>).</summary>
    [JsonPropertyName("inp_channels")] public long InpChannels { get; init; } = 3;

    /// <summary>Channels of the restored output (official <c>out_channels</c>).</summary>
    [JsonPropertyName("out_channels")] public long OutChannels { get; init; } = 3;

    /// <summary>Width of level 1; level k has dim·2^(k−1) channels (official <c>dim</c>).</summary>
    [JsonPropertyName("dim")] public long Dim { get; init; } = 48;

    /// <summary>Transformer blocks per level 1..4 (official <c>num_blocks</c>); level 4 is the latent.</summary>
    [JsonPropertyName("num_blocks")] public int[] NumBlocks { get; init; } = [4, 6, 6, 8];

    /// <summary>Transformer blocks of the full-resolution refinement stage (official <c>num_refinement_blocks</c>).</summary>
    [JsonPropertyName("num_refinement_blocks")] public int NumRefinementBlocks { get; init; } = 4;

    /// <summary>Attention heads per level 1..4 (official <c>heads</c>).</summary>
    [JsonPropertyName("heads")] public long[] Heads { get; init; } = [1, 2, 4, 8];

    /// <summary>GDFN expansion; hidden width is floor(C·factor) (official <c>ffn_expansion_factor</c>).</summary>
    [JsonPropertyName("ffn_expansion_factor")] public double FfnExpansionFactor { get; init; } = 2.66;

    /// <summary>Whether the 1×1/3×3 convs that honour the flag carry biases (official <c>bias</c>).</summary>
    [JsonPropertyName("bias")] public bool Bias { get; init; }

    /// <summary><c>"WithBias"</c> or <c>"BiasFree"</c> (official <c>LayerNorm_type</c>).</summary>
    [JsonPropertyName("LayerNorm_type")] public string LayerNormKind { get; init; } = "WithBias";

    /// <summary>Must be <c>true</c> (official <c>decoder</c>): the official forward crashes without it.</summary>
    [JsonPropertyName("decoder")] public bool Decoder { get; init; } = true;

    /// <summary>Accepted for compatibility and ignored, as in the official code (official <c>task_num</c>).</summary>
    [JsonPropertyName("task_num")] public int TaskNum { get; init; } = 5;

    /// <summary>The parsed <see cref="LayerNormKind"/>.</summary>
    [JsonIgnore]
    public LayerNormType LayerNorm => LayerNormKind switch
    {
        "WithBias" => LayerNormType.WithBias,
        "BiasFree" => LayerNormType.BiasFree,
        _ => throw new ModelConfigException("LayerNorm_type", $"'{LayerNormKind}' is not one of 'WithBias', 'BiasFree'."),
    };

    /// <summary>The default configuration of the released checkpoints (52,336,698 parameters).</summary>
    public static DaRcotConfig Default { get; } = new();

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>
    /// Parses a JSON object with official argument names (e.g. the <c>config</c> of a fixture's <c>case.json</c>) and
    /// validates it. Unknown fields are refused so that a misspelt name cannot silently fall back to a default.
    /// </summary>
    /// <exception cref="ModelConfigException">Malformed JSON, an unknown field, or an invalid value.</exception>
    public static DaRcotConfig FromJson(string json)
    {
        DaRcotConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<DaRcotConfig>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            var field = string.IsNullOrEmpty(e.Path) ? "$" : e.Path!;
            throw new ModelConfigException(field, $"cannot parse the DA-RCOT config: {e.Message}");
        }
        if (config is null) throw new ModelConfigException("$", "the DA-RCOT config is null; expected a JSON object.");
        config.Validate();
        return config;
    }

    /// <summary>Checks every field; the exception names the first offending one.</summary>
    /// <exception cref="ModelConfigException">An invalid value.</exception>
    public void Validate()
    {
        if (!Decoder)
            throw new ModelConfigException("decoder", "must be true: with decoder=false the official MRCNet forward crashes (up4_3 expects 192 channels and receives 384), and the official trainer always builds MRCNet(decoder=True).");
        if (InpChannels <= 0) throw new ModelConfigException("inp_channels", $"must be positive, got {InpChannels}.");
        if (OutChannels <= 0) throw new ModelConfigException("out_channels", $"must be positive, got {OutChannels}.");
        if (Dim <= 0 || Dim % 2 != 0) throw new ModelConfigException("dim", $"must be a positive even number (Downsample halves it), got {Dim}.");
        if (NumBlocks is null || NumBlocks.Length != 4)
            throw new ModelConfigException("num_blocks", $"must list 4 block counts (levels 1..3 and the latent), got {NumBlocks?.Length ?? 0}.");
        if (NumBlocks.Any(n => n < 0)) throw new ModelConfigException("num_blocks", "block counts must not be negative.");
        if (NumRefinementBlocks < 0) throw new ModelConfigException("num_refinement_blocks", $"must not be negative, got {NumRefinementBlocks}.");
        if (Heads is null || Heads.Length != 4) throw new ModelConfigException("heads", $"must list 4 head counts, got {Heads?.Length ?? 0}.");
        if (!(FfnExpansionFactor > 0)) throw new ModelConfigException("ffn_expansion_factor", $"must be positive, got {FfnExpansionFactor}.");
        _ = LayerNorm;
        // Every attention width must split evenly into its heads (MDTA reshapes C into h × C/h).
        var widths = new (long channels, long heads, string where)[]
        {
            (Dim, Heads[0], "level 1"), (Dim * 2, Heads[1], "level 2"), (Dim * 4, Heads[2], "level 3"), (Dim * 8, Heads[3], "latent"),
            (Dim * 2, Heads[0], "decoder level 1 / refinement"), (Dim * 8, Heads[2], "noise_level3"),
            (Dim * 4, Heads[2], "noise_level2"), (Dim * 2, Heads[2], "noise_level1"),
        };
        foreach (var (c, h, where) in widths)
            if (h <= 0 || c % h != 0)
                throw new ModelConfigException("heads", $"{h} heads do not divide the {c} channels of {where}.");
    }
}
