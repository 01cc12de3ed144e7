using DaRcot.Rec.Backbones.Blocks;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Conditioning;

/// <summary>The condition operators the REC map offers.</summary>
public enum InjectorKind
{
    /// <summary>feature + P(emb) with P a 1×1 conv whose weight and bias start at zero (<see cref="ZeroInitProjectionInjector"/>):
    /// a wrapped pretrained backbone starts exactly at its own output.</summary>
    ZeroInitProjection,
    /// <summary>The official DA-RCOT operator: feature + 0.8·P(emb), then a fusion transformer block
    /// (<see cref="ScaledAdditionFusionInjector"/>); for training from scratch.</summary>
    ScaledAdditionFusion,
    /// <summary>FiLM: feature·(1 + γ) + β with (γ, β) from a zero-initialised 1×1 conv (<see cref="FilmInjector"/>);
    /// also starts exactly at the backbone's output.</summary>
    Film,
}

/// <summary>
/// The learned part of a condition operator: per-point modules that turn an embedding into a change of the
/// backbone feature. <see cref="Bind"/> pairs them with one pass's embeddings to give the
/// <see cref="IConditionInjector"/> the backbone calls.
/// </summary>
public abstract class ConditionInjectorModule : nn.Module
{
    /// <summary>The points this operator conditions, with the backbone's channels.</summary>
    public IReadOnlyList<ConditionPoint> Points { get; }

    /// <summary>Embedding channels per point name.</summary>
    protected IReadOnlyDictionary<string, long> EmbeddingChannels { get; }

    /// <summary>Checks the point names (they become module keys) and stores the widths.</summary>
    protected ConditionInjectorModule(string name, IReadOnlyList<ConditionPoint> points, IReadOnlyDictionary<string, long> embeddingChannels)
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(embeddingChannels);
        foreach (var p in points)
        {
            if (string.IsNullOrEmpty(p.Name) || p.Name.Contains('.', StringComparison.Ordinal))
                throw new ModelConfigException("points", $"condition point name '{p.Name}' is empty or contains '.', which cannot be a module key.");
            if (!embeddingChannels.ContainsKey(p.Name))
                throw new ModelConfigException("points", $"no embedding width given for condition point '{p.Name}'.");
        }
        Points = points.ToArray();
        EmbeddingChannels = embeddingChannels;
    }

    /// <summary>Applies the operator at <paramref name="point"/>; <paramref name="embedding"/> is that point's embedding.</summary>
    protected abstract Tensor Apply(ConditionPoint point, Tensor feature, Tensor embedding);

    /// <summary>An injector for one conditioned pass. Points without an embedding (not conditioned) pass the feature through.</summary>
    public IConditionInjector Bind(IReadOnlyDictionary<string, Tensor> embeddings)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        return new Bound(this, embeddings);
    }

    private sealed class Bound(ConditionInjectorModule owner, IReadOnlyDictionary<string, Tensor> embeddings) : IConditionInjector
    {
        public Tensor Inject(ConditionPoint point, Tensor feature)
        {
            if (!embeddings.TryGetValue(point.Name, out var emb) || !owner.EmbeddingChannels.ContainsKey(point.Name)) return feature;
            if (emb.shape[^2] != feature.shape[^2] || emb.shape[^1] != feature.shape[^1])
                throw new TensorArgumentException(point.Name,
                    $"the embedding is {emb.shape[^2]}×{emb.shape[^1]} but the backbone feature at condition point '{point.Name}' (downscale {point.Downscale}) is {feature.shape[^2]}×{feature.shape[^1]}; the input must be padded to the backbone's size multiple.");
            if (feature.shape[1] != point.Channels)
                throw new TensorArgumentException(point.Name, $"the backbone feature has {feature.shape[1]} channels but condition point '{point.Name}' declares {point.Channels}.");
            return owner.Apply(point, feature, emb);
        }
    }

    /// <summary>A 1×1 conv <paramref name="cin"/> → <paramref name="cout"/> with bias, weight and bias set to zero.</summary>
    protected static VerifiedConv2d ZeroConv(long cin, long cout)
    {
        var conv = VerifiedConv2d.Create(cin, cout, 1, bias: true);
        using (no_grad())
        {
            nn.init.zeros_(conv.weight!);
            nn.init.zeros_(conv.bias!);
        }
        return conv;
    }
}

/// <summary>
/// feature + P_p(emb) with P_p a per-point 1×1 conv (embedding width → backbone channels) whose weight and bias
/// start at zero, so the conditioned pass initially equals the plain backbone. Keys <c>proj.&lt;point&gt;.weight/bias</c>.
/// </summary>
/// <remarks>At initialisation the gradient reaching the embedding through P is zero (it is multiplied by P's zero
/// weight) while P's own weight receives the gradient feature-gradient ⊗ embedding; after the first update of P the
/// REGM receives gradients too.</remarks>
public sealed class ZeroInitProjectionInjector : ConditionInjectorModule
{
    private readonly ModuleDict<nn.Module<Tensor, Tensor>> proj;

    /// <summary>Creates one zero-initialised projection per point.</summary>
    public ZeroInitProjectionInjector(IReadOnlyList<ConditionPoint> points, IReadOnlyDictionary<string, long> embeddingChannels)
        : base(nameof(ZeroInitProjectionInjector), points, embeddingChannels)
    {
        proj = new ModuleDict<nn.Module<Tensor, Tensor>>();
        foreach (var p in Points) proj.Add(p.Name, ZeroConv(EmbeddingChannels[p.Name], p.Channels));
        RegisterComponents();
    }

    /// <inheritdoc />
    protected override Tensor Apply(ConditionPoint point, Tensor feature, Tensor embedding) => feature.Plus(proj[point.Name].forward(embedding));
}

/// <summary>
/// The official DA-RCOT operator generalised: F_p(feature + 0.8·P_p(emb)) where P_p is a 1×1 conv to the backbone's
/// channels (omitted when the widths already agree, as in DA-RCOT) and F_p a Restormer transformer block playing the
/// part of DA-RCOT's <c>noise_level</c> blocks. Keys <c>proj.&lt;point&gt;</c>, <c>fuse.&lt;point&gt;</c>.
/// </summary>
/// <remarks>In DA-RCOT the fusion blocks also run in pass 1 (unconditioned); here they exist only in the
/// conditioned pass, because pass 1 must be the plain backbone. The wrapped network therefore does not start at the
/// backbone's output: use this operator when training end to end.</remarks>
public sealed class ScaledAdditionFusionInjector : ConditionInjectorModule
{
    /// <summary>The fixed scale of the official additive conditioning.</summary>
    public const double Scale = 0.8;

    private static readonly Scalar ScaleFactor = Scalars.Constant(Scale);

    private readonly ModuleDict<nn.Module<Tensor, Tensor>> proj;
    private readonly ModuleDict<nn.Module<Tensor, Tensor>> fuse;

    /// <summary>Creates the projections and fusion blocks (heads: 4 when the channels allow, as DA-RCOT's noise_level blocks).</summary>
    public ScaledAdditionFusionInjector(IReadOnlyList<ConditionPoint> points, IReadOnlyDictionary<string, long> embeddingChannels,
        double ffnExpansionFactor = 2.66, LayerNormType layerNorm = LayerNormType.WithBias)
        : base(nameof(ScaledAdditionFusionInjector), points, embeddingChannels)
    {
        proj = new ModuleDict<nn.Module<Tensor, Tensor>>();
        fuse = new ModuleDict<nn.Module<Tensor, Tensor>>();
        foreach (var p in Points)
        {
            var ce = EmbeddingChannels[p.Name];
            proj.Add(p.Name, ce == p.Channels ? nn.Identity() : VerifiedConv2d.Create(ce, p.Channels, 1, bias: false));
            long heads = p.Channels % 4 == 0 ? 4 : p.Channels % 2 == 0 ? 2 : 1;
            fuse.Add(p.Name, new TransformerBlock(p.Channels, heads, ffnExpansionFactor, false, layerNorm));
        }
        RegisterComponents();
    }

    /// <inheritdoc />
    protected override Tensor Apply(ConditionPoint point, Tensor feature, Tensor embedding) =>
        fuse[point.Name].forward(feature.Plus(proj[point.Name].forward(embedding).mul(ScaleFactor)));
}

/// <summary>
/// FiLM: feature·(1 + γ) + β with [γ, β] = P_p(emb), P_p a zero-initialised 1×1 conv to twice the backbone's channels,
/// so the conditioned pass starts at the plain backbone. Keys <c>film.&lt;point&gt;.weight/bias</c>.
/// </summary>
public sealed class FilmInjector : ConditionInjectorModule
{
    private readonly ModuleDict<nn.Module<Tensor, Tensor>> film;

    /// <summary>Creates one zero-initialised scale/shift projection per point.</summary>
    public FilmInjector(IReadOnlyList<ConditionPoint> points, IReadOnlyDictionary<string, long> embeddingChannels)
        : base(nameof(FilmInjector), points, embeddingChannels)
    {
        film = new ModuleDict<nn.Module<Tensor, Tensor>>();
        foreach (var p in Points) film.Add(p.Name, ZeroConv(EmbeddingChannels[p.Name], p.Channels * 2));
        RegisterComponents();
    }

    /// <inheritdoc />
    protected override Tensor Apply(ConditionPoint point, Tensor feature, Tensor embedding)
    {
        using var scope = NewDisposeScope();
        var gb = film[point.Name].forward(embedding).chunk(2, 1);
        return (feature * gb[0].Plus(Scalars.One)).Plus(gb[1]).MoveToOuterDisposeScope();
    }
}
