using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;
using Padding = DaRcot.Rec.Imaging.Padding;

namespace DaRcot.Rec.Conditioning;

/// <summary>
/// The residual-conditioned (REC) map around any <see cref="IConditionedBackbone"/>: pass 1 restores y₀ with the
/// plain backbone, the residual r = x − y₀ goes through a <see cref="ResidualEmbeddingGenerator"/> to one embedding
/// per condition point, and pass 2 runs the backbone again with those embeddings injected by a
/// <see cref="ConditionInjectorModule"/>. It knows nothing about the backbone beyond the hook interface.
/// </summary>
/// <remarks>
/// Children: <c>backbone</c> (so an official backbone state_dict loads strictly into the <c>backbone.</c> subtree),
/// <c>regm</c> and <c>cond</c> (the new modules). Inputs of any size are padded bottom/right to the least common
/// multiple of the backbone's <see cref="IConditionedBackbone.SizeMultiple"/> and the REGM's dense downscale, and
/// every image output is cropped back; embeddings stay at the padded size.
/// </remarks>
public sealed class ResidualConditionedMap : nn.Module<Tensor, Tensor>, IRecModel, INamedOutputs
{
    /// <summary>Key of the dense residual embedding in <see cref="ForwardNamed"/>.</summary>
    public const string ResidualEmbeddingKey = INamedOutputs.ResidualEmbedding;

    private readonly nn.Module<Tensor, Tensor> backbone;
    private readonly ResidualEmbeddingGenerator regm;
    private readonly ConditionInjectorModule cond;

    // The backbone seen through its hooks. A property, not a field: TorchSharp registers every field that holds a
    // module, which would list the backbone's parameters twice.
    private IConditionedBackbone Hooks => (IConditionedBackbone)backbone;
    private readonly ConditionPoint[] _points;
    private readonly int[] _skipped;

    /// <summary>The options the map was built with.</summary>
    public RecOptions Options { get; }

    /// <summary>The wrapped backbone (the <c>backbone</c> child).</summary>
    public nn.Module<Tensor, Tensor> Backbone => backbone;

    /// <summary>The residual embedding generator (the <c>regm</c> child).</summary>
    public ResidualEmbeddingGenerator Regm => regm;

    /// <summary>The condition operator (the <c>cond</c> child).</summary>
    public ConditionInjectorModule Conditioner => cond;

    /// <summary>The backbone points that are conditioned.</summary>
    public IReadOnlyList<ConditionPoint> ConditionedPoints => _points;

    /// <summary>Requested downscales at which the backbone declares no point, so nothing is injected there
    /// (e.g. 8 for MPRNet, which has three-level U-Nets).</summary>
    public IReadOnlyList<int> SkippedDownscales => _skipped;

    /// <summary>Inputs are padded bottom/right to a multiple of this.</summary>
    public int SizeMultiple { get; }

    /// <summary>Wraps <paramref name="backbone"/>, which must implement <see cref="IConditionedBackbone"/>.</summary>
    /// <exception cref="ModelConfigException">The backbone has no hooks, a requested downscale is not 1, 2, 4 or 8,
    /// or nothing would be conditioned.</exception>
    public ResidualConditionedMap(nn.Module<Tensor, Tensor> backbone, RecOptions? options = null, ILogger? logger = null)
        : base("RecMap")
    {
        ArgumentNullException.ThrowIfNull(backbone);
        logger ??= NullLogger.Instance;
        Options = options ??= new RecOptions();
        var hooks = backbone as IConditionedBackbone
            ?? throw new ModelConfigException("backbone", $"{backbone.GetType().Name} does not implement IConditionedBackbone, so it exposes no condition points.");
        this.backbone = backbone;

        var supported = ResidualEmbeddingGenerator.SupportedDownscales;
        var declared = hooks.ConditionPoints;
        IReadOnlyList<int> wanted;
        if (options.Downscales is null)
        {
            wanted = declared.Select(p => p.Downscale).Where(supported.Contains).Distinct().ToArray();
        }
        else
        {
            foreach (var d in options.Downscales)
                if (!supported.Contains(d))
                    throw new ModelConfigException(nameof(RecOptions.Downscales), $"{d} is not one of 1, 2, 4, 8.");
            wanted = options.Downscales.Distinct().ToArray();
        }
        _points = declared.Where(p => wanted.Contains(p.Downscale)).ToArray();
        _skipped = wanted.Where(d => declared.All(p => p.Downscale != d)).OrderBy(d => d).ToArray();
        foreach (var d in _skipped)
            logger.LogWarning("{Backbone} has no condition point at downscale 1/{Downscale}; that scale is not conditioned (the REGM still encodes down to 1/{Dense}).",
                backbone.GetType().Name, d, options.DenseDownscale);
        if (_points.Length == 0)
            throw new ModelConfigException(nameof(RecOptions.Downscales),
                $"none of the requested downscales [{string.Join(", ", wanted)}] matches a condition point of {backbone.GetType().Name} ([{string.Join(", ", declared.Select(p => $"{p.Name}@1/{p.Downscale}"))}]).");

        regm = new ResidualEmbeddingGenerator(hooks.InputChannels, _points, options.Regm, options.DenseDownscale);
        var widths = _points.ToDictionary(p => p.Name, p => regm.EmbeddingChannels(p.Downscale), StringComparer.Ordinal);
        cond = options.Injector switch
        {
            InjectorKind.ZeroInitProjection => new ZeroInitProjectionInjector(_points, widths),
            InjectorKind.ScaledAdditionFusion => new ScaledAdditionFusionInjector(_points, widths, options.Regm.FfnExpansionFactor, options.Regm.LayerNorm),
            InjectorKind.Film => new FilmInjector(_points, widths),
            _ => throw new ModelConfigException(nameof(RecOptions.Injector), $"unknown injector kind {options.Injector}."),
        };
        SizeMultiple = Lcm(Math.Max(1, hooks.SizeMultiple), regm.DenseDownscale);
        RegisterComponents();
    }

    /// <summary>Wraps a backbone whose type is known to implement the hooks.</summary>
    public static ResidualConditionedMap Create<TBackbone>(TBackbone backbone, RecOptions? options = null, ILogger? logger = null)
        where TBackbone : nn.Module<Tensor, Tensor>, IConditionedBackbone => new(backbone, options, logger);

    /// <summary>Returns the final (pass-2) image.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Run(x, keep: false).y.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public RecOutput ForwardRec(Tensor x, bool keepIntermediates = false)
    {
        using var scope = NewDisposeScope();
        var (y, y0, r, emb) = Run(x, keepIntermediates);
        var dense = emb[ResidualEmbeddingGenerator.DenseKey].MoveToOuterDisposeScope();
        if (!keepIntermediates)
            return new RecOutput { Output = y.MoveToOuterDisposeScope(), DenseEmbedding = dense };
        var kept = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var p in _points) kept[p.Name] = emb[p.Name].MoveToOuterDisposeScope();
        return new RecOutput
        {
            Output = y.MoveToOuterDisposeScope(),
            FirstPass = y0!.MoveToOuterDisposeScope(),
            Residual = r!.MoveToOuterDisposeScope(),
            DenseEmbedding = dense,
            Embeddings = kept,
        };
    }

    /// <summary>Returns <c>output</c> (the final image) and <c>residual_embedding</c> (the dense embedding).</summary>
    public IReadOnlyDictionary<string, Tensor> ForwardNamed(Tensor x) => this.NamedRecOutputs(x);

    // Both passes in the caller's dispose scope; images are cropped back to the input size.
    private (Tensor y, Tensor? y0, Tensor? r, IReadOnlyDictionary<string, Tensor> emb) Run(Tensor x, bool keep)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 4)
            throw new TensorArgumentException("x", $"expected an NCHW batch, got shape [{string.Join(", ", x.shape)}].");
        if (x.shape[1] != Hooks.InputChannels)
            throw new TensorArgumentException("x", $"the backbone takes {Hooks.InputChannels} channels, got {x.shape[1]} (shape [{string.Join(", ", x.shape)}]).");
        if (!x.is_floating_point())
            throw new TensorArgumentException("x", $"expected a floating-point image tensor, got {x.dtype}.");
        long h = x.shape[2], w = x.shape[3];
        var xp = Padding.PadToMultiple(x, SizeMultiple, Options.PadMode);

        var split = Options.ShareEncoder ? Hooks as ISplitConditionedBackbone : null;
        BackboneFeatures? features = split?.Encode(xp);
        var y0 = split is not null ? split.Decode(features!, null) : Hooks.ForwardConditioned(xp, null);
        var r = xp - (Options.DetachFirstPass ? y0.detach() : y0);
        var emb = regm.call(r);
        var injector = cond.Bind(emb);
        var y = split is not null ? split.Decode(features!, injector) : Hooks.ForwardConditioned(xp, injector);
        return (Padding.CropIfPadded(y, h, w), keep ? Padding.CropIfPadded(y0, h, w) : null, keep ? Padding.CropIfPadded(r, h, w) : null, emb);
    }

    private static int Lcm(int a, int b)
    {
        static int Gcd(int p, int q) => q == 0 ? p : Gcd(q, p % q);
        return a / Gcd(a, b) * b;
    }
}
