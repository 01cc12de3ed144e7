using DaRcot.Rec.Backbones.Blocks;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Backbones;

/// <summary>
/// MPRNet (Zamir et al., CVPR 2021, multi-stage progressive restoration) with the official module tree, so the
/// official checkpoints (<c>torch.load(f)['state_dict']</c>, optionally with the DataParallel <c>module.</c> prefix)
/// load strictly. Input height and width must be multiples of 8; the model does not pad (the official demo pads
/// bottom/right with reflect).
/// </summary>
/// <remarks>
/// <para>Stage 1 runs on the four quadrants (split at ⌊H/2⌋, ⌊W/2⌋), stage 2 on the top and bottom halves, stage 3 on
/// the whole image; the quadrants and halves are batched along the batch axis (equivalent, since they all have the
/// same size when H and W are multiples of 8). <see cref="nn.Module{T,TResult}.forward"/> returns the final
/// (stage-3) image; <see cref="ForwardStages"/> returns all three in the official order [stage3, stage2, stage1].</para>
/// <para>One PReLU module is shared by every CAB, as in the official code: the state_dict lists it under each
/// <c>…body.1.weight</c> key (316 keys for the default config) while <c>parameters()</c> yields it once (262 tensors).</para>
/// <para>Condition points (backbones.md §4) are all full-image tensors of the stage-2 decoder, applied inside the
/// decoder as each level is produced (so a coarse condition also steers the finer levels, SAM23 and ORSNet):
/// 1/4 = R2[2] (n+2s), 1/2 = R2[1] (n+s), 1 = R2[0] (n); optionally also 1 = the stage-3 ORSNet input Z (n+o).
/// MPRNet's U-Nets have three levels, so there is <b>no 1/8 point</b>: a REC wrapper that produces a 1/8 embedding
/// must fuse it elsewhere (e.g. upsample ×2 and project it into the 1/4 condition). Stage 1 and the stage-2 encoder
/// are never conditioned, which makes the <see cref="Encode"/>/<see cref="Decode"/> split exact.</para>
/// </remarks>
public sealed class MPRNet : nn.Module<Tensor, Tensor>, ISplitConditionedBackbone, INamedOutputs
{
    /// <summary>Name of the 1/4 condition point (stage-2 decoder level 3, n+2s channels).</summary>
    public const string Scale1_4 = "scale_1_4";
    /// <summary>Name of the 1/2 condition point (stage-2 decoder level 2, n+s channels).</summary>
    public const string Scale1_2 = "scale_1_2";
    /// <summary>Name of the full-resolution condition point (stage-2 decoder level 1, n channels).</summary>
    public const string Scale1 = "scale_1";
    /// <summary>Name of the optional full-resolution point on the stage-3 ORSNet input (n+o channels).</summary>
    public const string Scale1Stage3 = "scale_1_stage3";

    /// <summary>Output key of the stage-2 image in <see cref="ForwardNamed"/>.</summary>
    public const string OutputStage2 = "output_stage2";
    /// <summary>Output key of the stage-1 image in <see cref="ForwardNamed"/>.</summary>
    public const string OutputStage1 = "output_stage1";

    // Field names are the official attribute names: they become the state_dict keys. Declaration order = official order.
    // The shared PReLU is deliberately not a field: officially it is a constructor local (no root-level `act` key).
    private readonly nn.Module<Tensor, Tensor> shallow_feat1;
    private readonly nn.Module<Tensor, Tensor> shallow_feat2;
    private readonly nn.Module<Tensor, Tensor> shallow_feat3;
    private readonly MprEncoder stage1_encoder;
    private readonly MprDecoder stage1_decoder;
    private readonly MprEncoder stage2_encoder;
    private readonly MprDecoder stage2_decoder;
    private readonly OriginalResolutionSubnet stage3_orsnet;
    private readonly SupervisedAttention sam12;
    private readonly SupervisedAttention sam23;
    private readonly VerifiedConv2d concat12;
    private readonly VerifiedConv2d concat23;
    private readonly VerifiedConv2d tail;

    private readonly ConditionPoint[] _points;
    private readonly ConditionPoint?[] _decoderPoints; // indexed by decoder level 1..3
    private readonly ConditionPoint? _stage3Point;

    /// <summary>The configuration this network was built from.</summary>
    public MPRNetConfig Config { get; }

    /// <inheritdoc />
    public IReadOnlyList<ConditionPoint> ConditionPoints => _points;

    /// <inheritdoc />
    public int SizeMultiple => 8;

    /// <inheritdoc />
    public long InputChannels => Config.InC;

    /// <summary>
    /// Builds the network; prefer <see cref="Create"/>. <paramref name="conditionStage3"/> adds the optional
    /// full-resolution condition point on the ORSNet input (it adds no parameters).
    /// </summary>
    public MPRNet(MPRNetConfig config, bool conditionStage3 = false) : base(nameof(MPRNet))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        long n = config.NFeat, s = config.ScaleUnetFeats, o = config.ScaleOrsnetFeats, k = config.KernelSize, r = config.Reduction;
        var bias = config.Bias;

        // One PReLU (init 0.25) shared by all CABs, exactly like the official `act = nn.PReLU()`.
        var act = new PRelu(1, 0.25);

        shallow_feat1 = ShallowFeatures(config.InC, n, k, r, bias, act);
        shallow_feat2 = ShallowFeatures(config.InC, n, k, r, bias, act);
        shallow_feat3 = ShallowFeatures(config.InC, n, k, r, bias, act);
        stage1_encoder = new MprEncoder(n, k, r, act, bias, s, csff: false);
        stage1_decoder = new MprDecoder(n, k, r, act, bias, s);
        stage2_encoder = new MprEncoder(n, k, r, act, bias, s, csff: true);
        stage2_decoder = new MprDecoder(n, k, r, act, bias, s);
        stage3_orsnet = new OriginalResolutionSubnet(n, o, k, r, act, bias, s, config.NumCab);
        sam12 = new SupervisedAttention(n, 1, bias);
        sam23 = new SupervisedAttention(n, 1, bias);
        concat12 = VerifiedConv2d.Create(n * 2, n, k, padding: k / 2, bias: bias);
        concat23 = VerifiedConv2d.Create(n * 2, n + o, k, padding: k / 2, bias: bias);
        tail = VerifiedConv2d.Create(n + o, config.OutC, k, padding: k / 2, bias: bias);

        var p4 = new ConditionPoint(Scale1_4, 4, n + 2 * s);
        var p2 = new ConditionPoint(Scale1_2, 2, n + s);
        var p1 = new ConditionPoint(Scale1, 1, n);
        _decoderPoints = [null, p1, p2, p4];
        _stage3Point = conditionStage3 ? new ConditionPoint(Scale1Stage3, 1, n + o) : null;
        _points = _stage3Point is null ? [p4, p2, p1] : [p4, p2, p1, _stage3Point];
        RegisterComponents();
    }

    /// <summary>Builds MPRNet from <paramref name="config"/> (the deblurring defaults when null).</summary>
    public static MPRNet Create(MPRNetConfig? config = null, bool conditionStage3 = false) => new(config ?? MPRNetConfig.Deblurring, conditionStage3);

    private static nn.Module<Tensor, Tensor> ShallowFeatures(long inC, long n, long k, long r, bool bias, nn.Module<Tensor, Tensor> act) =>
        new MprSequential(
            ("0", VerifiedConv2d.Create(inC, n, k, padding: k / 2, bias: bias)),
            ("1", new ChannelAttentionBlock(n, k, r, bias, act)));

    /// <summary>The official forward pass: returns the final (stage-3) image for NCHW input with H, W multiples of 8.</summary>
    public override Tensor forward(Tensor x) => ForwardConditioned(x, null);

    /// <summary>All three stage images in the official order: [stage3 (final), stage2, stage1]. The caller disposes them.</summary>
    public Tensor[] ForwardStages(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var features = Encode(x);
        var (final, stage2) = DecodeCore(features, null);
        // alias(): a second handle on the stage-1 image, which survives the features' disposal.
        var stage1 = features.Tensors[Stage1Image].alias();
        return [final.MoveToOuterDisposeScope(), stage2.MoveToOuterDisposeScope(), stage1.MoveToOuterDisposeScope()];
    }

    /// <summary>Returns <c>output</c> (stage 3), <c>output_stage2</c> and <c>output_stage1</c>; the caller disposes them.</summary>
    public IReadOnlyDictionary<string, Tensor> ForwardNamed(Tensor x)
    {
        var stages = ForwardStages(x);
        return new Dictionary<string, Tensor>
        {
            [INamedOutputs.Final] = stages[0],
            [OutputStage2] = stages[1],
            [OutputStage1] = stages[2],
        };
    }

    /// <inheritdoc />
    public Tensor ForwardConditioned(Tensor x, IConditionInjector? injector) => this.EncodeThenDecode(x, injector);

    private const string Stage1Image = "stage1_img";
    private const string Shallow3 = "shallow_feat3";
    private static readonly string[] F2Keys = ["feat2_level1", "feat2_level2", "feat2_level3"];

    /// <summary>
    /// Runs stage 1 (quadrants), the stage-2 encoder (halves) and <c>shallow_feat3</c>: everything no condition
    /// point precedes. The features hold the stage-1 image, the merged stage-2 encoder outputs F2 and the stage-3
    /// shallow features.
    /// </summary>
    public BackboneFeatures Encode(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        long h = x.shape[2], w = x.shape[3], h2 = h / 2, w2 = w / 2;
        var top = x.narrow(2, 0, h2);
        var bot = x.narrow(2, h2, h - h2);

        // Stage 1: the four quadrants as one batch [ltop; rtop; lbot; rbot] (same weights, same sizes).
        var quadrants = cat([top.narrow(3, 0, w2), top.narrow(3, w2, w - w2), bot.narrow(3, 0, w2), bot.narrow(3, w2, w - w2)], 0);
        var feat1Quadrants = stage1_encoder.forward(shallow_feat1.forward(quadrants));
        // Left|right joined along width gives each half; the halves stay batched as [top; bot].
        var feat1 = feat1Quadrants.Select(t =>
        {
            var q = t.chunk(4, 0);
            return cat([cat([q[0], q[1]], 3), cat([q[2], q[3]], 3)], 0);
        }).ToArray();
        var res1 = stage1_decoder.forward(feat1);
        var halves = cat([top, bot], 0);
        var (sam12Features, stage1Halves) = sam12.forward(res1[0], halves);
        var stage1Img = cat(stage1Halves.chunk(2, 0), 2);

        // Stage 2 encoder on the halves, with cross-stage fusion of stage 1; then top and bottom joined along height.
        var x2 = concat12.forward(cat([shallow_feat2.forward(halves), sam12Features], 1));
        var feat2Halves = stage2_encoder.forward(x2, feat1, res1);
        var tensors = new Dictionary<string, Tensor>
        {
            [Stage1Image] = stage1Img.MoveToOuterDisposeScope(),
            [Shallow3] = shallow_feat3.forward(x).MoveToOuterDisposeScope(),
        };
        for (var i = 0; i < 3; i++)
            tensors[F2Keys[i]] = cat(feat2Halves[i].chunk(2, 0), 2).MoveToOuterDisposeScope();
        return new BackboneFeatures(x, tensors);
    }

    /// <summary>
    /// Runs the stage-2 decoder, SAM23 and stage 3 from <paramref name="features"/> (made by <see cref="Encode"/>),
    /// calling <paramref name="injector"/> at each condition point; returns the final image.
    /// </summary>
    public Tensor Decode(BackboneFeatures features, IConditionInjector? injector)
    {
        using var scope = NewDisposeScope();
        var (final, _) = DecodeCore(features, injector);
        return final.MoveToOuterDisposeScope();
    }

    private (Tensor Final, Tensor Stage2) DecodeCore(BackboneFeatures features, IConditionInjector? injector)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (!features.Tensors.ContainsKey(F2Keys[0]) || !features.Tensors.ContainsKey(Shallow3))
            throw new ArgumentException("These features were not produced by MPRNet.Encode.", nameof(features));
        var x = features.Input;
        var feat2 = F2Keys.Select(k => features.Tensors[k]).ToArray();
        Func<int, Tensor, Tensor>? hook = injector is null ? null : (level, t) => injector.Inject(_decoderPoints[level]!, t);

        var res2 = stage2_decoder.forward(feat2, hook);
        var (sam23Features, stage2Img) = sam23.forward(res2[0], x);
        var z = concat23.forward(cat([features.Tensors[Shallow3], sam23Features], 1));
        if (injector is not null && _stage3Point is not null) z = injector.Inject(_stage3Point, z);
        z = stage3_orsnet.forward(z, feat2, res2);
        var final = tail.forward(z).Plus(x);
        return (final, stage2Img);
    }

    private void CheckInput(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 4 || x.shape[1] != Config.InC)
            throw new TensorArgumentException("x", $"MPRNet expects NCHW with {Config.InC} channels, got [{string.Join(",", x.shape)}].");
        if (x.shape[2] % SizeMultiple != 0 || x.shape[3] % SizeMultiple != 0 || x.shape[2] == 0 || x.shape[3] == 0)
            throw new TensorArgumentException("x", $"MPRNet needs H and W to be positive multiples of {SizeMultiple}, got shape [{string.Join(",", x.shape)}] ({x.shape[2]}×{x.shape[3]}); pad bottom/right first (the official demo uses reflect padding).");
    }
}
