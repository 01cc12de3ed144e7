using System.Text.Json.Serialization;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Backbones;

/// <summary>
/// The constructor arguments of the official <c>NAFNet</c> class under their official names (defaults equal the
/// official defaults), plus <c>tlc</c>: build the test-time local converter variant (official <c>NAFNetLocal</c>,
/// used by the GoPro and REDS checkpoints), whose kernels derive from <c>tlc_train_size</c>.
/// </summary>
public sealed record NAFNetConfig
{
    /// <summary>Image channels (input and output).</summary>
    [JsonPropertyName("img_channel")] public int ImgChannel { get; init; } = 3;

    /// <summary>Width w of level 0; level i runs at w·2^i channels, the middle blocks at w·2^(encoders).</summary>
    [JsonPropertyName("width")] public int Width { get; init; } = 16;

    /// <summary>NAFBlocks in the middle (deepest) stage.</summary>
    [JsonPropertyName("middle_blk_num")] public int MiddleBlkNum { get; init; } = 1;

    /// <summary>NAFBlocks per encoder level; the number of entries is the number of levels.</summary>
    [JsonPropertyName("enc_blk_nums")] public int[] EncBlkNums { get; init; } = [];

    /// <summary>NAFBlocks per decoder level, deepest first; needs as many entries as <see cref="EncBlkNums"/>.</summary>
    [JsonPropertyName("dec_blk_nums")] public int[] DecBlkNums { get; init; } = [];

    /// <summary>Test-time local converter (our option; official <c>NAFNetLocal</c>): replace each block's global pool
    /// by a local mean whose kernel is 1.5·<see cref="TlcTrainSize"/> scaled to the block's level.</summary>
    [JsonPropertyName("tlc")] public bool Tlc { get; init; }

    /// <summary>The square training crop size TLC's kernels derive from (official <c>train_size</c> 256).</summary>
    [JsonPropertyName("tlc_train_size")] public int TlcTrainSize { get; init; } = 256;

    /// <summary>Throws <see cref="ModelConfigException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (ImgChannel < 1) throw new ModelConfigException("img_channel", $"must be ≥ 1 (got {ImgChannel}).");
        if (Width < 1) throw new ModelConfigException("width", $"must be ≥ 1 (got {Width}).");
        if (MiddleBlkNum < 0) throw new ModelConfigException("middle_blk_num", $"must be ≥ 0 (got {MiddleBlkNum}).");
        if (EncBlkNums is null) throw new ModelConfigException("enc_blk_nums", "must be a list.");
        if (DecBlkNums is null) throw new ModelConfigException("dec_blk_nums", "must be a list.");
        if (EncBlkNums.Any(n => n < 0)) throw new ModelConfigException("enc_blk_nums", "entries must be ≥ 0.");
        if (DecBlkNums.Any(n => n < 0)) throw new ModelConfigException("dec_blk_nums", "entries must be ≥ 0.");
        // The official constructor zips ups/decoders with the reversed skips: unequal lengths break the forward pass.
        if (DecBlkNums.Length != EncBlkNums.Length)
            throw new ModelConfigException("dec_blk_nums", $"needs as many entries as enc_blk_nums ({EncBlkNums.Length}; got {DecBlkNums.Length}).");
        if (EncBlkNums.Length > 10) throw new ModelConfigException("enc_blk_nums", $"at most 10 levels are supported (got {EncBlkNums.Length}).");
        if (TlcTrainSize < 1) throw new ModelConfigException("tlc_train_size", $"must be ≥ 1 (got {TlcTrainSize}).");
    }
}
