using DaRcot.Rec.Backbones.Blocks;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Runtime;
using Padding = DaRcot.Rec.Imaging.Padding;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Models;

/// <summary>
/// The DA-RCOT transport network T (official class <c>MRCNet</c> with <c>decoder=True</c>): a Restormer-style
/// encoder run once, a decoder run twice, and a residual embedding generator (REGM) between the passes.
/// Pass 1 restores y₁; the residual r = x − y₁ goes through REGM to embeddings (R3 at H/8, R2 at H/4, R1 at H/2);
/// pass 2 adds 0.8·R_k before each <c>noise_level</c> block and returns y₂ = output(…) + x.
/// </summary>
/// <remarks>
/// The module tree is exactly the official one, in the official registration (= state_dict) order, including the
/// modules the official forward never uses (<c>res_patch_embed</c>, <c>chnl_reduce*</c>, <c>reduce_noise_channel_*</c>,
/// <c>resdown3_4</c>, <c>resup3_2</c>, <c>resreduce_chan_level2</c>, <c>resdecoder_level2</c>, <c>resup2_1</c>,
/// <c>resdecoder_level1</c>) so that official checkpoints load strictly. Unlike the official code, the latent stage
/// <c>latent(L0)</c> is computed once and reused by both passes (the official forward recomputes it from the same
/// input, so values and gradients are identical). Children are invoked through <c>call</c>, so forward hooks work.
/// Inputs whose height or width is not a multiple of 8 are padded bottom/right by edge replication and the outputs
/// cropped back (the official test script crops the image instead; for multiples of 8 nothing changes).
/// </remarks>
public sealed class DaRcotNet : nn.Module<Tensor, Tensor>, IRecModel, INamedOutputs
{
    /// <summary>Key of the dense residual embedding R3 in <see cref="ForwardNamed"/>.</summary>
    public const string ResidualEmbeddingKey = INamedOutputs.ResidualEmbedding;

    /// <summary>Names of the three embeddings in <see cref="RecOutput.Embeddings"/>.</summary>
    public const string R3 = "R3", R2 = "R2", R1 = "R1";

    /// <summary>The fixed scale of the official additive conditioning.</summary>
    public const double ConditionScale = 0.8;

    private static readonly Scalar ConditionScaleFactor = Scalars.Constant(ConditionScale);

    // Field names are the official attribute names (state_dict keys); declaration order is the official
    // registration order, as read from an official state_dict.
    private readonly OverlapPatchEmbed patch_embed;
    private readonly OverlapPatchEmbed res_patch_embed;
    private readonly VerifiedConv2d chnl_reduce1;
    private readonly VerifiedConv2d chnl_reduce2;
    private readonly VerifiedConv2d chnl_reduce3;
    private readonly VerifiedConv2d reduce_noise_channel_1;
    private readonly nn.Module<Tensor, Tensor> encoder_level1;
    private readonly nn.Module<Tensor, Tensor> resencoder_level1;
    private readonly RestormerDownsample down1_2;
    private readonly RestormerDownsample resdown1_2;
    private readonly VerifiedConv2d reduce_noise_channel_2;
    private readonly nn.Module<Tensor, Tensor> encoder_level2;
    private readonly nn.Module<Tensor, Tensor> resencoder_level2;
    private readonly RestormerDownsample down2_3;
    private readonly RestormerDownsample resdown2_3;
    private readonly VerifiedConv2d reduce_noise_channel_3;
    private readonly nn.Module<Tensor, Tensor> encoder_level3;
    private readonly nn.Module<Tensor, Tensor> resencoder_level3;
    private readonly RestormerDownsample down3_4;
    private readonly RestormerDownsample resdown3_4;
    private readonly nn.Module<Tensor, Tensor> latent;
    private readonly nn.Module<Tensor, Tensor> reslatent;
    private readonly RestormerUpsample up4_3;
    private readonly RestormerUpsample resup4_3;
    private readonly VerifiedConv2d reduce_chan_level3;
    private readonly VerifiedConv2d resreduce_chan_level3;
    private readonly TransformerBlock noise_level3;
    private readonly TransformerBlock resnoise_level3;
    private readonly VerifiedConv2d reduce_noise_level3;
    private readonly VerifiedConv2d resreduce_noise_level3;
    private readonly nn.Module<Tensor, Tensor> decoder_level3;
    private readonly nn.Module<Tensor, Tensor> resdecoder_level3;
    private readonly RestormerUpsample up3_2;
    private readonly VerifiedConv2d reduce_chan_level2;
    private readonly RestormerUpsample resup3_2;
    private readonly VerifiedConv2d resreduce_chan_level2;
    private readonly TransformerBlock noise_level2;
    private readonly VerifiedConv2d reduce_noise_level2;
    private readonly nn.Module<Tensor, Tensor> decoder_level2;
    private readonly nn.Module<Tensor, Tensor> resdecoder_level2;
    private readonly RestormerUpsample up2_1;
    private readonly RestormerUpsample resup2_1;
    private readonly TransformerBlock noise_level1;
    private readonly VerifiedConv2d reduce_noise_level1;
    private readonly nn.Module<Tensor, Tensor> decoder_level1;
    private readonly nn.Module<Tensor, Tensor> resdecoder_level1;
    private readonly nn.Module<Tensor, Tensor> refinement;
    private readonly VerifiedConv2d output;

    /// <summary>The configuration this network was built from.</summary>
    public DaRcotConfig Config { get; }

    /// <summary>Input height and width are padded to a multiple of this (three 2× downsamplings).</summary>
    public int SizeMultiple => 8;

    /// <summary>Builds the network; prefer <see cref="Create"/>.</summary>
    /// <exception cref="ModelConfigException">An invalid <paramref name="config"/>.</exception>
    public DaRcotNet(DaRcotConfig config) : base("MRCNet")
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
        nn.Module<Tensor, Tensor> Stack(int n, long c, long h) => TransformerBlock.Stack(n, c, h, ffn, bias, ln);
        TransformerBlock Block(long c, long h) => new(c, h, ffn, bias, ln);
        VerifiedConv2d Conv1(long cin, long cout) => VerifiedConv2d.Create(cin, cout, 1, bias: bias);

        // Official OverlapPatchEmbed is built with its default bias=False whatever `bias` says.
        patch_embed = new OverlapPatchEmbed(config.InpChannels, dim, bias: false);
        res_patch_embed = new OverlapPatchEmbed(config.InpChannels, dim, bias: false);
        // Prompt-fusion leftovers of PromptIR: fixed prompt widths (64, 128, 320→256) plus the level widths.
        chnl_reduce1 = Conv1(64, 64);
        chnl_reduce2 = Conv1(128, 128);
        chnl_reduce3 = Conv1(320, 256);
        reduce_noise_channel_1 = Conv1(dim + 64, dim);
        encoder_level1 = Stack(nb[0], dim, heads[0]);
        resencoder_level1 = Stack(nb[0], dim, heads[0]);
        down1_2 = new RestormerDownsample(dim);
        resdown1_2 = new RestormerDownsample(dim);
        reduce_noise_channel_2 = Conv1(dim * 2 + 128, dim * 2);
        encoder_level2 = Stack(nb[1], dim * 2, heads[1]);
        resencoder_level2 = Stack(nb[1], dim * 2, heads[1]);
        down2_3 = new RestormerDownsample(dim * 2);
        resdown2_3 = new RestormerDownsample(dim * 2);
        reduce_noise_channel_3 = Conv1(dim * 4 + 256, dim * 4);
        encoder_level3 = Stack(nb[2], dim * 4, heads[2]);
        resencoder_level3 = Stack(nb[2], dim * 4, heads[2]);
        down3_4 = new RestormerDownsample(dim * 4);
        resdown3_4 = new RestormerDownsample(dim * 4);
        latent = Stack(nb[3], dim * 8, heads[3]);
        reslatent = Stack(nb[3], dim * 8, heads[3]);
        // up4_3 reads the 4·dim output of reduce_noise_level3 (not the 8·dim latent as in Restormer).
        up4_3 = new RestormerUpsample(dim * 4);
        resup4_3 = new RestormerUpsample(dim * 4);
        reduce_chan_level3 = Conv1(dim * 2 + dim * 4, dim * 4);
        resreduce_chan_level3 = Conv1(dim * 2 + dim * 4, dim * 4);
        noise_level3 = Block(dim * 8, heads[2]);
        resnoise_level3 = Block(dim * 8, heads[2]);
        reduce_noise_level3 = Conv1(dim * 8, dim * 4);
        resreduce_noise_level3 = Conv1(dim * 8, dim * 4);
        decoder_level3 = Stack(nb[2], dim * 4, heads[2]);
        resdecoder_level3 = Stack(nb[2], dim * 4, heads[2]);
        up3_2 = new RestormerUpsample(dim * 4);
        reduce_chan_level2 = Conv1(dim * 4, dim * 2);
        resup3_2 = new RestormerUpsample(dim * 4);
        resreduce_chan_level2 = Conv1(dim * 4, dim * 2);
        noise_level2 = Block(dim * 4, heads[2]);
        reduce_noise_level2 = Conv1(dim * 4, dim * 4);
        decoder_level2 = Stack(nb[1], dim * 2, heads[1]);
        resdecoder_level2 = Stack(nb[1], dim * 2, heads[1]);
        up2_1 = new RestormerUpsample(dim * 2);
        resup2_1 = new RestormerUpsample(dim * 2);
        // noise_level1 uses heads[2] (4 heads by default), not heads[0].
        noise_level1 = Block(dim * 2, heads[2]);
        reduce_noise_level1 = Conv1(dim * 2, dim * 2);
        decoder_level1 = Stack(nb[0], dim * 2, heads[0]);
        resdecoder_level1 = Stack(nb[0], dim * 2, heads[0]);
        refinement = Stack(config.NumRefinementBlocks, dim * 2, heads[0]);
        output = VerifiedConv2d.Create(dim * 2, config.OutChannels, 3, padding: 1, bias: bias);
        RegisterComponents();
    }

    /// <summary>Builds DA-RCOT from <paramref name="config"/> (the released default when null).</summary>
    public static DaRcotNet Create(DaRcotConfig? config = null) => new(config ?? DaRcotConfig.Default);

    /// <summary>Returns the final restored image y₂ (the first element of the official forward's tuple).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (y2, _, _, _) = Run(x, keep: false);
        return y2.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public RecOutput ForwardRec(Tensor x, bool keepIntermediates = false)
    {
        using var scope = NewDisposeScope();
        var (y2, y1, r, emb) = Run(x, keepIntermediates);
        var r3 = emb[R3].MoveToOuterDisposeScope();
        if (!keepIntermediates)
            return new RecOutput { Output = y2.MoveToOuterDisposeScope(), DenseEmbedding = r3 };
        return new RecOutput
        {
            Output = y2.MoveToOuterDisposeScope(),
            FirstPass = y1!.MoveToOuterDisposeScope(),
            Residual = r!.MoveToOuterDisposeScope(),
            DenseEmbedding = r3,
            Embeddings = new Dictionary<string, Tensor>
            {
                [R3] = r3,
                [R2] = emb[R2].MoveToOuterDisposeScope(),
                [R1] = emb[R1].MoveToOuterDisposeScope(),
            },
        };
    }

    /// <summary>Returns <c>output</c> (y₂) and <c>residual_embedding</c> (R3), the two values of the official forward.</summary>
    public IReadOnlyDictionary<string, Tensor> ForwardNamed(Tensor x) => this.NamedRecOutputs(x);

    private void CheckInput(Tensor x)
    {
        if (x.dim() != 4)
            throw new TensorArgumentException("x", $"DA-RCOT expects an NCHW batch, got shape [{string.Join(", ", x.shape)}].");
        if (x.shape[1] != Config.InpChannels)
            throw new TensorArgumentException("x", $"DA-RCOT was built for {Config.InpChannels} input channels, got {x.shape[1]} (shape [{string.Join(", ", x.shape)}]).");
        if (!x.is_floating_point())
            throw new TensorArgumentException("x", $"expected a floating-point image tensor, got {x.dtype}.");
    }

    // Both passes, in the current dispose scope. Returns y2, and y1 / r (cropped) when kept, and R3, R2, R1.
    private (Tensor y2, Tensor? y1, Tensor? r, Dictionary<string, Tensor> emb) Run(Tensor input, bool keep)
    {
        CheckInput(input);
        long h = input.shape[2], w = input.shape[3];
        var x = Padding.PadToMultiple(input, SizeMultiple, PadMode.Replicate);

        // Shared encoder, computed once.
        var e1 = encoder_level1.call(patch_embed.call(x));
        var e2 = encoder_level2.call(down1_2.call(e1));
        var e3 = encoder_level3.call(down2_3.call(e2));
        // latent(L0) is the same in both passes (conditions are added after it): compute it once.
        var lat = latent.call(down3_4.call(e3));

        // Pass 1: the official Dec(0, 0, 0); adding zero tensors is skipped.
        var y1 = Decode(x, e1, e2, e3, lat, null, null, null);
        var r = x - y1;

        // REGM: a second encoder on r, sharing patch_embed and down3_4 with the generator, and a half decoder
        // whose last level is the generator's own level-2 decoder.
        var f1 = resencoder_level1.call(patch_embed.call(r));
        var f2 = resencoder_level2.call(resdown1_2.call(f1));
        var f3 = resencoder_level3.call(resdown2_3.call(f2));
        var r3 = reslatent.call(down3_4.call(f3));
        var g = resreduce_chan_level3.call(cat([resup4_3.call(resreduce_noise_level3.call(resnoise_level3.call(r3))), f3], 1));
        var r2 = resdecoder_level3.call(g);
        var r1 = decoder_level2.call(reduce_chan_level2.call(cat([up3_2.call(r2), f2], 1)));

        // Pass 2: the same decoder, conditioned; the global skip is +x, not +y1.
        var y2 = Decode(x, e1, e2, e3, lat, r3, r2, r1);
        var emb = new Dictionary<string, Tensor> { [R3] = r3, [R2] = r2, [R1] = r1 };
        return (Padding.CropIfPadded(y2, h, w), keep ? Padding.CropIfPadded(y1, h, w) : null, keep ? Padding.CropIfPadded(r, h, w) : null, emb);
    }

    // The official decoder with the optional conditions added (out of place) before each noise_level block.
    private Tensor Decode(Tensor x, Tensor e1, Tensor e2, Tensor e3, Tensor lat, Tensor? c3, Tensor? c2, Tensor? c1)
    {
        var a = c3 is null ? lat : lat.Plus(c3.mul(ConditionScaleFactor));
        var a1 = reduce_noise_level3.call(noise_level3.call(a));
        var b = decoder_level3.call(reduce_chan_level3.call(cat([up4_3.call(a1), e3], 1)));
        var b1 = reduce_noise_level2.call(noise_level2.call(c2 is null ? b : b.Plus(c2.mul(ConditionScaleFactor))));
        var d = decoder_level2.call(reduce_chan_level2.call(cat([up3_2.call(b1), e2], 1)));
        var d1 = reduce_noise_level1.call(noise_level1.call(c1 is null ? d : d.Plus(c1.mul(ConditionScaleFactor))));
        var e = refinement.call(decoder_level1.call(cat([up2_1.call(d1), e1], 1)));
        return output.call(e).Plus(x);
    }
}
