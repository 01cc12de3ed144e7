using DaRcot.Rec.Backbones.Blocks;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Backbones;

/// <summary>
/// Restormer (Zamir et al., CVPR 2022) with the official module tree, so the official release checkpoints load
/// strictly (<c>torch.load(f)['params']</c>). Input height and width must be multiples of 8; the model does not pad
/// (the official scripts pad bottom/right with reflect, see <c>DaRcot.Rec.Imaging.Padding</c>).
/// </summary>
/// <remarks>
/// Condition points are all on the decoder side (backbones.md §4, "recommended"), which lets the REC map run the
/// encoder once and the decoder twice: 1/8 = latent output (8·dim), 1/4 = after <c>reduce_chan_level3</c> (4·dim),
/// 1/2 = after <c>reduce_chan_level2</c> (2·dim), 1 = input of <c>decoder_level1</c> (2·dim).
/// </remarks>
public sealed class Restormer : nn.Module<Tensor, Tensor>, ISplitConditionedBackbone
{
    /// <summary>Name of the 1/8 condition point (output of <c>latent</c>).</summary>
    public const string Scale1_8 = "scale_1_8";
    /// <summary>Name of the 1/4 condition point (after <c>reduce_chan_level3</c>).</summary>
    public const string Scale1_4 = "scale_1_4";
    /// <summary>Name of the 1/2 condition point (after <c>reduce_chan_level2</c>).</summary>
    public const string Scale1_2 = "scale_1_2";
    /// <summary>Name of the full-resolution condition point (input of <c>decoder_level1</c>).</summary>
    public const string Scale1 = "scale_1";

    // Field names are the official attribute names: they become the state_dict keys. Declaration order = official order.
    private readonly OverlapPatchEmbed patch_embed;
    private readonly nn.Module<Tensor, Tensor> encoder_level1;
    private readonly RestormerDownsample down1_2;
    private readonly nn.Module<Tensor, Tensor> encoder_level2;
    private readonly RestormerDownsample down2_3;
    private readonly nn.Module<Tensor, Tensor> encoder_level3;
    private readonly RestormerDownsample down3_4;
    private readonly nn.Module<Tensor, Tensor> latent;
    private readonly RestormerUpsample up4_3;
    private readonly VerifiedConv2d reduce_chan_level3;
    private readonly nn.Module<Tensor, Tensor> decoder_level3;
    private readonly RestormerUpsample up3_2;
    private readonly VerifiedConv2d reduce_chan_level2;
    private readonly nn.Module<Tensor, Tensor> decoder_level2;
    private readonly RestormerUpsample up2_1;
    private readonly nn.Module<Tensor, Tensor> decoder_level1;
    private readonly nn.Module<Tensor, Tensor> refinement;
    private readonly VerifiedConv2d? skip_conv;
    private readonly VerifiedConv2d output;

    private readonly ConditionPoint[] _points;

    /// <summary>The configuration this network was built from.</summary>
    public RestormerConfig Config { get; }

    /// <inheritdoc />
    public IReadOnlyList<ConditionPoint> ConditionPoints => _points;

    /// <inheritdoc />
    public int SizeMultiple => 8;

    /// <inheritdoc />
    public long InputChannels => Config.InpChannels;

    /// <summary>Builds the network; prefer <see cref="Create"/>.</summary>
    public Restormer(RestormerConfig config) : base(nameof(Restormer))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        long dim = config.Dim;
        var nb = config.NumBlocks;
        var heads = config.Heads;
        var ffn = config.FfnExpansionFactor;
        var bias = config.Bias;
        var ln = config.LayerNorm;

        // The official OverlapPatchEmbed is constructed with its default bias=False, whatever `bias` says.
        patch_embed = new OverlapPatchEmbed(config.InpChannels, dim, bias: false);
        encoder_level1 = TransformerBlock.Stack(nb[0], dim, heads[0], ffn, bias, ln);
        down1_2 = new RestormerDownsample(dim);
        encoder_level2 = TransformerBlock.Stack(nb[1], dim * 2, heads[1], ffn, bias, ln);
        down2_3 = new RestormerDownsample(dim * 2);
        encoder_level3 = TransformerBlock.Stack(nb[2], dim * 4, heads[2], ffn, bias, ln);
        down3_4 = new RestormerDownsample(dim * 4);
        latent = TransformerBlock.Stack(nb[3], dim * 8, heads[3], ffn, bias, ln);
        up4_3 = new RestormerUpsample(dim * 8);
        reduce_chan_level3 = VerifiedConv2d.Create(dim * 8, dim * 4, 1, bias: bias);
        decoder_level3 = TransformerBlock.Stack(nb[2], dim * 4, heads[2], ffn, bias, ln);
        up3_2 = new RestormerUpsample(dim * 4);
        reduce_chan_level2 = VerifiedConv2d.Create(dim * 4, dim * 2, 1, bias: bias);
        decoder_level2 = TransformerBlock.Stack(nb[1], dim * 2, heads[1], ffn, bias, ln);
        up2_1 = new RestormerUpsample(dim * 2);
        // Level 1 has no reduction conv: decoder and refinement run at 2·dim with heads[0].
        decoder_level1 = TransformerBlock.Stack(nb[0], dim * 2, heads[0], ffn, bias, ln);
        refinement = TransformerBlock.Stack(config.NumRefinementBlocks, dim * 2, heads[0], ffn, bias, ln);
        if (config.DualPixelTask) skip_conv = VerifiedConv2d.Create(dim, dim * 2, 1, bias: bias);
        output = VerifiedConv2d.Create(dim * 2, config.OutChannels, 3, padding: 1, bias: bias);

        _points =
        [
            new ConditionPoint(Scale1_8, 8, dim * 8),
            new ConditionPoint(Scale1_4, 4, dim * 4),
            new ConditionPoint(Scale1_2, 2, dim * 2),
            new ConditionPoint(Scale1, 1, dim * 2),
        ];
        RegisterComponents();
    }

    /// <summary>Builds Restormer from <paramref name="config"/> (official defaults when null).</summary>
    public static Restormer Create(RestormerConfig? config = null) => new(config ?? new RestormerConfig());

    /// <summary>The official forward pass: NCHW input with H, W multiples of 8.</summary>
    public override Tensor forward(Tensor x) => ForwardConditioned(x, null);

    /// <inheritdoc />
    public Tensor ForwardConditioned(Tensor x, IConditionInjector? injector) => this.EncodeThenDecode(x, injector);

    /// <summary>Runs <c>patch_embed</c>, the three encoder levels and the latent (which no condition precedes).</summary>
    public BackboneFeatures Encode(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        var e0 = patch_embed.forward(x);
        var e1 = encoder_level1.forward(e0);
        var e2 = encoder_level2.forward(down1_2.forward(e1));
        var e3 = encoder_level3.forward(down2_3.forward(e2));
        var lat = latent.forward(down3_4.forward(e3));
        var tensors = new Dictionary<string, Tensor>
        {
            ["enc_level1"] = e1.MoveToOuterDisposeScope(),
            ["enc_level2"] = e2.MoveToOuterDisposeScope(),
            ["enc_level3"] = e3.MoveToOuterDisposeScope(),
            ["latent"] = lat.MoveToOuterDisposeScope(),
        };
        // Only the dual-pixel head reads the patch embedding again.
        if (skip_conv is not null) tensors["patch_embed"] = e0.MoveToOuterDisposeScope();
        return new BackboneFeatures(x, tensors);
    }

    /// <summary>Runs the decoder, refinement and output head, calling <paramref name="injector"/> at each condition point.</summary>
    public Tensor Decode(BackboneFeatures features, IConditionInjector? injector)
    {
        ArgumentNullException.ThrowIfNull(features);
        using var scope = NewDisposeScope();
        var f = features.Tensors;
        Tensor Hook(int index, Tensor t) => injector is null ? t : injector.Inject(_points[index], t);

        var lat = Hook(0, f["latent"]);
        var d3 = reduce_chan_level3.forward(cat([up4_3.forward(lat), f["enc_level3"]], 1));
        d3 = decoder_level3.forward(Hook(1, d3));
        var d2 = reduce_chan_level2.forward(cat([up3_2.forward(d3), f["enc_level2"]], 1));
        d2 = decoder_level2.forward(Hook(2, d2));
        var d1 = cat([up2_1.forward(d2), f["enc_level1"]], 1);
        d1 = decoder_level1.forward(Hook(3, d1));
        var r = refinement.forward(d1);
        var result = skip_conv is not null
            ? output.forward(r.Plus(skip_conv.forward(f["patch_embed"])))
            : output.forward(r).Plus(features.Input);
        return result.MoveToOuterDisposeScope();
    }

    private void CheckInput(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != Config.InpChannels)
            throw new TensorArgumentException("x", $"Restormer expects NCHW with {Config.InpChannels} channels, got [{string.Join(",", x.shape)}].");
        if (x.shape[2] % SizeMultiple != 0 || x.shape[3] % SizeMultiple != 0)
            throw new TensorArgumentException("x", $"Restormer needs H and W multiples of {SizeMultiple} (got {x.shape[2]}×{x.shape[3]}); pad first (DaRcot.Rec.Imaging.Padding).");
    }
}
