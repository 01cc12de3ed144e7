using System.Globalization;
using DaRcot.Rec.Backbones.Blocks;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Conditioning;

/// <summary>Width and depth of a <see cref="ResidualEmbeddingGenerator"/>.</summary>
public sealed record RegmOptions
{
    /// <summary>Channels at full resolution; level k (downscale 2^k) has width·2^k channels.</summary>
    public long Width { get; init; } = 48;

    /// <summary>Transformer blocks per level, for downscales 1, 2, 4, 8 (encoder and decoder of that level).</summary>
    public int[] Blocks { get; init; } = [2, 2, 2, 4];

    /// <summary>Attention heads per level, for downscales 1, 2, 4, 8.</summary>
    public long[] Heads { get; init; } = [1, 2, 4, 8];

    /// <summary>GDFN expansion factor of every block.</summary>
    public double FfnExpansionFactor { get; init; } = 2.66;

    /// <summary>Layer-norm flavour of every block.</summary>
    public LayerNormType LayerNorm { get; init; } = LayerNormType.WithBias;
}

/// <summary>
/// The residual embedding generation module (REGM): maps the residual r = x − y₀ of a first pass to one embedding
/// per requested condition point. It is a Restormer-style U-Net of MDTA+GDFN transformer blocks: an encoder from
/// full resolution down to the dense level (downscale 8 by default; its output is the dense embedding, like
/// DA-RCOT's R3), then a decoder back up to the finest requested downscale, each level fusing the encoder skip
/// (upsample, concatenate, 1×1 reduce, blocks) as DA-RCOT's REGM does. The embedding of a point is this network's
/// feature at the point's downscale, with the REGM's own width there (<see cref="EmbeddingChannels"/>); an injector
/// projects it to the backbone's channels.
/// </summary>
/// <remarks>Child modules: <c>patch_embed</c>, <c>encoders.k</c>, <c>downs.k</c>, <c>ups.i</c>, <c>reduces.i</c>,
/// <c>decoders.i</c> (decoder index i climbs from the dense level towards full resolution).</remarks>
public sealed class ResidualEmbeddingGenerator : nn.Module<Tensor, IReadOnlyDictionary<string, Tensor>>
{
    /// <summary>Downscales the generator can produce embeddings at.</summary>
    public static IReadOnlyList<int> SupportedDownscales { get; } = [1, 2, 4, 8];

    private readonly OverlapPatchEmbed patch_embed;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> encoders;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> downs;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> ups;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> reduces;
    private readonly ModuleList<nn.Module<Tensor, Tensor>> decoders;

    private readonly int _denseLevel;
    private readonly int _finestLevel;
    private readonly ConditionPoint[] _points;

    /// <summary>The points this generator produces embeddings for.</summary>
    public IReadOnlyList<ConditionPoint> Points => _points;

    /// <summary>Downscale of the dense (coarsest) embedding.</summary>
    public int DenseDownscale => 1 << _denseLevel;

    /// <summary>Options the generator was built with.</summary>
    public RegmOptions Options { get; }

    /// <summary>
    /// Builds a generator reading a <paramref name="inputChannels"/>-channel residual and producing embeddings for
    /// <paramref name="points"/> (downscales 1, 2, 4 or 8; several points may share a downscale and then share the
    /// embedding). The encoder always reaches <paramref name="denseDownscale"/>, even when no point is that coarse,
    /// so a dense embedding exists for the contrastive loss and degradation identification.
    /// </summary>
    /// <exception cref="ModelConfigException">An unsupported downscale, a width that does not split into heads,
    /// or too few entries in <see cref="RegmOptions.Blocks"/>/<see cref="RegmOptions.Heads"/>.</exception>
    public ResidualEmbeddingGenerator(long inputChannels, IReadOnlyList<ConditionPoint> points, RegmOptions? options = null, int denseDownscale = 8)
        : base(nameof(ResidualEmbeddingGenerator))
    {
        ArgumentNullException.ThrowIfNull(points);
        Options = options ??= new RegmOptions();
        if (inputChannels <= 0) throw new ModelConfigException("inputChannels", $"must be positive, got {inputChannels}.");
        if (!SupportedDownscales.Contains(denseDownscale))
            throw new ModelConfigException("denseDownscale", $"{denseDownscale} is not one of 1, 2, 4, 8.");
        foreach (var p in points)
            if (!SupportedDownscales.Contains(p.Downscale))
                throw new ModelConfigException("points", $"condition point '{p.Name}' has downscale {p.Downscale}; the REGM supports 1, 2, 4, 8.");
        _points = points.ToArray();
        _denseLevel = Math.Max(Level(denseDownscale), _points.Length == 0 ? 0 : _points.Max(p => Level(p.Downscale)));
        _finestLevel = _points.Length == 0 ? _denseLevel : _points.Min(p => Level(p.Downscale));

        long w = options.Width;
        if (w <= 0 || (_denseLevel > 0 && w % 2 != 0))
            throw new ModelConfigException("Width", $"the REGM width must be a positive even number, got {w}.");
        if (options.Blocks is null || options.Blocks.Length <= _denseLevel)
            throw new ModelConfigException("Blocks", $"needs an entry for each of the {_denseLevel + 1} levels (downscales 1..{DenseDownscale}).");
        if (options.Heads is null || options.Heads.Length <= _denseLevel)
            throw new ModelConfigException("Heads", $"needs an entry for each of the {_denseLevel + 1} levels (downscales 1..{DenseDownscale}).");
        if (options.Blocks.Any(b => b < 0)) throw new ModelConfigException("Blocks", "block counts must not be negative.");
        for (var l = 0; l <= _denseLevel; l++)
            if (options.Heads[l] <= 0 || LevelWidth(l) % options.Heads[l] != 0)
                throw new ModelConfigException("Heads", $"{options.Heads[l]} heads do not divide the {LevelWidth(l)} channels of level 1/{1 << l}.");

        nn.Module<Tensor, Tensor> Stack(int l) =>
            TransformerBlock.Stack(options.Blocks[l], LevelWidth(l), options.Heads[l], options.FfnExpansionFactor, false, options.LayerNorm);

        patch_embed = new OverlapPatchEmbed(inputChannels, w, bias: false);
        encoders = new ModuleList<nn.Module<Tensor, Tensor>>();
        downs = new ModuleList<nn.Module<Tensor, Tensor>>();
        for (var l = 0; l <= _denseLevel; l++)
        {
            encoders.Add(Stack(l));
            if (l < _denseLevel) downs.Add(new RestormerDownsample(LevelWidth(l)));
        }
        ups = new ModuleList<nn.Module<Tensor, Tensor>>();
        reduces = new ModuleList<nn.Module<Tensor, Tensor>>();
        decoders = new ModuleList<nn.Module<Tensor, Tensor>>();
        for (var l = _denseLevel; l > _finestLevel; l--)
        {
            ups.Add(new RestormerUpsample(LevelWidth(l)));              // 2^l·w → 2^(l−1)·w
            reduces.Add(VerifiedConv2d.Create(LevelWidth(l - 1) * 2, LevelWidth(l - 1), 1, bias: false));
            decoders.Add(Stack(l - 1));
        }
        RegisterComponents();
    }

    /// <summary>Channels of the embedding produced for a point at <paramref name="downscale"/>.</summary>
    public long EmbeddingChannels(int downscale) => LevelWidth(Level(downscale));

    /// <summary>Key of the dense embedding in the dictionary <see cref="forward"/> returns, when no point has the
    /// dense downscale (otherwise the dense embedding is also stored under that point's name).</summary>
    public const string DenseKey = "__dense__";

    /// <summary>
    /// Embeds the residual <paramref name="r"/> (NCHW, H and W multiples of <see cref="DenseDownscale"/>). Returns one
    /// tensor per point name, plus <see cref="DenseKey"/> holding the dense embedding. Points with the same downscale
    /// share one tensor.
    /// </summary>
    public override IReadOnlyDictionary<string, Tensor> forward(Tensor r)
    {
        using var scope = NewDisposeScope();
        var skips = new Tensor[_denseLevel + 1];
        var v = patch_embed.forward(r);
        for (var l = 0; l <= _denseLevel; l++)
        {
            if (l > 0) v = downs[l - 1].forward(v);
            v = encoders[l].forward(v);
            skips[l] = v;
        }
        var byLevel = new Dictionary<int, Tensor> { [_denseLevel] = v };
        for (int i = 0, l = _denseLevel; l > _finestLevel; i++, l--)
        {
            var up = ups[i].forward(v);
            v = decoders[i].forward(reduces[i].forward(cat([up, skips[l - 1]], 1)));
            byLevel[l - 1] = v;
        }
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var t in byLevel.Values) t.MoveToOuterDisposeScope();
        foreach (var p in _points) result[p.Name] = byLevel[Level(p.Downscale)];
        result[DenseKey] = byLevel[_denseLevel];
        return result;
    }

    private long LevelWidth(int level) => Options.Width << level;

    internal static int Level(int downscale) => downscale switch
    {
        1 => 0,
        2 => 1,
        4 => 2,
        8 => 3,
        _ => throw new ModelConfigException("downscale", $"{downscale.ToString(CultureInfo.InvariantCulture)} is not one of 1, 2, 4, 8."),
    };
}
