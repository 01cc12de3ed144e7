using System.Globalization;
using DaRcot.Rec.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Backbones.Blocks;

/// <summary>
/// Building blocks of MPRNet (Zamir et al., CVPR 2021) with the official attribute names, so that the official
/// <c>state_dict</c> keys map one-to-one onto these modules.
/// </summary>
internal static class MprConv
{
    /// <summary>The official <c>conv</c> helper: K×K, stride 1, padding K//2.</summary>
    public static VerifiedConv2d Make(long inChannels, long outChannels, long kernelSize, bool bias) =>
        VerifiedConv2d.Create(inChannels, outChannels, kernelSize, padding: kernelSize / 2, bias: bias);

    /// <summary>Index names "0", "1", … as <c>nn.Sequential(*list)</c> gives them.</summary>
    public static string Index(int i) => i.ToString(CultureInfo.InvariantCulture);

    /// <summary><paramref name="count"/> CABs at <paramref name="channels"/> in a Sequential named 0..count−1.</summary>
    public static nn.Module<Tensor, Tensor> Cabs(int count, long channels, long kernelSize, long reduction, bool bias, nn.Module<Tensor, Tensor> act)
    {
        var items = new (string, nn.Module<Tensor, Tensor>)[count];
        for (var i = 0; i < count; i++) items[i] = (Index(i), new ChannelAttentionBlock(channels, kernelSize, reduction, bias, act));
        return new MprSequential(items);
    }
}

/// <summary>
/// A minimal <c>nn.Sequential</c> whose children are registered as ordinary submodules. TorchSharp's own
/// <c>Sequential</c> lists a parameter shared by two of its children (MPRNet's PReLU) under the first child's name
/// only, so its <c>state_dict()</c> would drop the official duplicate keys; this one keeps every key.
/// </summary>
internal sealed class MprSequential : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor>[] _items;

    /// <summary>Registers <paramref name="items"/> under their names, in order.</summary>
    public MprSequential(params (string Name, nn.Module<Tensor, Tensor> Module)[] items) : base("Sequential")
    {
        foreach (var (name, module) in items) register_module(name, module);
        _items = items.Select(i => i.Module).ToArray();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var module in _items) x = module.forward(x);
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Bilinear resampling by a fixed factor (align_corners=False), the parameter-free first entry of MPRNet's
/// <c>DownSample.down</c> / <c>UpSample.up</c> sequentials (official <c>nn.Upsample</c>).
/// </summary>
public sealed class BilinearScale : nn.Module<Tensor, Tensor>
{
    private readonly double _factor;

    /// <summary>Creates the resampler; 0.5 halves, 2 doubles the spatial size.</summary>
    public BilinearScale(double factor) : base("Upsample") => _factor = factor;

    /// <inheritdoc />
    public override Tensor forward(Tensor x) =>
        nn.functional.interpolate(x, scale_factor: new[] { _factor, _factor }, mode: InterpolationMode.Bilinear, align_corners: false);
}

/// <summary>MPRNet's channel attention <c>CALayer</c>: x · sigmoid(conv(relu(conv(avgpool(x))))), keys <c>conv_du.0</c>, <c>conv_du.2</c>.</summary>
public sealed class ChannelAttentionLayer : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> conv_du;

    /// <summary>Creates the layer on <paramref name="channels"/> with hidden width channels // <paramref name="reduction"/>.</summary>
    public ChannelAttentionLayer(long channels, long reduction, bool bias) : base("CALayer")
    {
        var hidden = channels / reduction;
        conv_du = nn.Sequential(
            ("0", VerifiedConv2d.Create(channels, hidden, 1, bias: bias)),
            ("1", nn.ReLU()),
            ("2", VerifiedConv2d.Create(hidden, channels, 1, bias: bias)),
            ("3", nn.Sigmoid()));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = conv_du.forward(nn.functional.adaptive_avg_pool2d(x, 1));
        return (x * y).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// MPRNet's channel attention block <c>CAB</c>: body (conv, act, conv) → CA → + input. The activation is the
/// network-wide shared PReLU, so every CAB lists the same parameter under its own <c>body.1.weight</c> key.
/// </summary>
public sealed class ChannelAttentionBlock : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> body;
    private readonly ChannelAttentionLayer CA;

    /// <summary>Creates the block; <paramref name="act"/> is registered as <c>body.1</c> (shared, not copied).</summary>
    public ChannelAttentionBlock(long channels, long kernelSize, long reduction, bool bias, nn.Module<Tensor, Tensor> act) : base("CAB")
    {
        body = new MprSequential(
            ("0", MprConv.Make(channels, channels, kernelSize, bias)),
            ("1", act),
            ("2", MprConv.Make(channels, channels, kernelSize, bias)));
        CA = new ChannelAttentionLayer(channels, reduction, bias);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var res = CA.forward(body.forward(x)).Plus(x);
        return res.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// MPRNet's supervised attention module <c>SAM</c> (1×1 convs in the official model): returns
/// (conv1(F)·sigmoid(conv3(img)) + F, img) with img = conv2(F) + the stage's input image.
/// </summary>
public sealed class SupervisedAttention : nn.Module<Tensor, Tensor, (Tensor Features, Tensor Image)>
{
    private readonly VerifiedConv2d conv1;
    private readonly VerifiedConv2d conv2;
    private readonly VerifiedConv2d conv3;

    /// <summary>Creates the module; <paramref name="kernelSize"/> is 1 in every official MPRNet.</summary>
    public SupervisedAttention(long channels, long kernelSize, bool bias) : base("SAM")
    {
        conv1 = MprConv.Make(channels, channels, kernelSize, bias);
        // The image width is hard-coded to 3 in the official code, whatever in_c says.
        conv2 = MprConv.Make(channels, 3, kernelSize, bias);
        conv3 = MprConv.Make(3, channels, kernelSize, bias);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override (Tensor Features, Tensor Image) forward(Tensor x, Tensor image)
    {
        using var scope = NewDisposeScope();
        var x1 = conv1.forward(x);
        var img = conv2.forward(x).Plus(image);
        var x2 = torch.sigmoid(conv3.forward(img));
        var features = (x1 * x2).Plus(x);
        return (features.MoveToOuterDisposeScope(), img.MoveToOuterDisposeScope());
    }
}

/// <summary>MPRNet's <c>DownSample</c>: bilinear ×0.5 then conv1 C → C+s (key <c>down.1</c>, never a bias).</summary>
public sealed class MprDownSample : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> down;

    /// <summary>Creates the downsampler from <paramref name="channels"/> to channels + <paramref name="step"/>.</summary>
    public MprDownSample(long channels, long step) : base("DownSample")
    {
        down = nn.Sequential(("0", new BilinearScale(0.5)), ("1", VerifiedConv2d.Create(channels, channels + step, 1, bias: false)));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => down.forward(x);
}

/// <summary>MPRNet's <c>UpSample</c>: bilinear ×2 then conv1 C+s → C (key <c>up.1</c>, never a bias).</summary>
public sealed class MprUpSample : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> up;

    /// <summary>Creates the upsampler from <paramref name="channels"/> + <paramref name="step"/> to channels.</summary>
    public MprUpSample(long channels, long step) : base("UpSample")
    {
        up = nn.Sequential(("0", new BilinearScale(2)), ("1", VerifiedConv2d.Create(channels + step, channels, 1, bias: false)));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => up.forward(x);
}

/// <summary>MPRNet's <c>SkipUpSample</c>: <see cref="MprUpSample"/> of x, plus the skip y.</summary>
public sealed class MprSkipUpSample : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> up;

    /// <summary>Creates the upsampler from <paramref name="channels"/> + <paramref name="step"/> to channels.</summary>
    public MprSkipUpSample(long channels, long step) : base("SkipUpSample")
    {
        up = nn.Sequential(("0", new BilinearScale(2)), ("1", VerifiedConv2d.Create(channels + step, channels, 1, bias: false)));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x, Tensor skip)
    {
        using var scope = NewDisposeScope();
        return up.forward(x).Plus(skip).MoveToOuterDisposeScope();
    }
}

/// <summary>MPRNet's original-resolution block <c>ORB</c>: <c>body.0..n−1</c> CABs, <c>body.n</c> conv K×K (no bias), + input.</summary>
public sealed class OriginalResolutionBlock : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> body;

    /// <summary>Creates the block with <paramref name="numCab"/> CABs sharing <paramref name="act"/>.</summary>
    public OriginalResolutionBlock(long channels, long kernelSize, long reduction, bool bias, nn.Module<Tensor, Tensor> act, int numCab) : base("ORB")
    {
        var items = new (string, nn.Module<Tensor, Tensor>)[numCab + 1];
        for (var i = 0; i < numCab; i++) items[i] = (MprConv.Index(i), new ChannelAttentionBlock(channels, kernelSize, reduction, bias, act));
        // The official ORB calls conv(n_feat, n_feat, kernel_size) without passing bias, so it never has one.
        items[numCab] = (MprConv.Index(numCab), MprConv.Make(channels, channels, kernelSize, false));
        body = new MprSequential(items);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return body.forward(x).Plus(x).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// MPRNet's 3-level U-Net <c>Encoder</c> (widths n, n+s, n+2s). With cross-stage feature fusion (stage 2) each level
/// output also gets <c>csff_enc{k}</c>(previous encoder) + <c>csff_dec{k}</c>(previous decoder) added.
/// </summary>
public sealed class MprEncoder : nn.Module
{
    private readonly nn.Module<Tensor, Tensor> encoder_level1;
    private readonly nn.Module<Tensor, Tensor> encoder_level2;
    private readonly nn.Module<Tensor, Tensor> encoder_level3;
    private readonly MprDownSample down12;
    private readonly MprDownSample down23;
    private readonly VerifiedConv2d? csff_enc1;
    private readonly VerifiedConv2d? csff_enc2;
    private readonly VerifiedConv2d? csff_enc3;
    private readonly VerifiedConv2d? csff_dec1;
    private readonly VerifiedConv2d? csff_dec2;
    private readonly VerifiedConv2d? csff_dec3;

    /// <summary>Creates the encoder; <paramref name="csff"/> adds the stage-2 fusion convs.</summary>
    public MprEncoder(long nFeat, long kernelSize, long reduction, nn.Module<Tensor, Tensor> act, bool bias, long scaleUnetFeats, bool csff) : base("Encoder")
    {
        long c1 = nFeat, c2 = nFeat + scaleUnetFeats, c3 = nFeat + 2 * scaleUnetFeats;
        encoder_level1 = MprConv.Cabs(2, c1, kernelSize, reduction, bias, act);
        encoder_level2 = MprConv.Cabs(2, c2, kernelSize, reduction, bias, act);
        encoder_level3 = MprConv.Cabs(2, c3, kernelSize, reduction, bias, act);
        down12 = new MprDownSample(c1, scaleUnetFeats);
        down23 = new MprDownSample(c2, scaleUnetFeats);
        if (csff)
        {
            csff_enc1 = VerifiedConv2d.Create(c1, c1, 1, bias: bias);
            csff_enc2 = VerifiedConv2d.Create(c2, c2, 1, bias: bias);
            csff_enc3 = VerifiedConv2d.Create(c3, c3, 1, bias: bias);
            csff_dec1 = VerifiedConv2d.Create(c1, c1, 1, bias: bias);
            csff_dec2 = VerifiedConv2d.Create(c2, c2, 1, bias: bias);
            csff_dec3 = VerifiedConv2d.Create(c3, c3, 1, bias: bias);
        }
        RegisterComponents();
    }

    /// <summary>
    /// Returns [e1, e2, e3]. <paramref name="encoderOuts"/> and <paramref name="decoderOuts"/> (both or neither) are
    /// the previous stage's features, fused only when this encoder was built with CSFF.
    /// </summary>
    public Tensor[] forward(Tensor x, Tensor[]? encoderOuts = null, Tensor[]? decoderOuts = null)
    {
        using var scope = NewDisposeScope();
        var fuse = encoderOuts is not null && decoderOuts is not null && csff_enc1 is not null;
        var enc1 = encoder_level1.forward(x);
        if (fuse) enc1 = enc1.Plus(csff_enc1!.forward(encoderOuts![0])).Plus(csff_dec1!.forward(decoderOuts![0]));
        var enc2 = encoder_level2.forward(down12.forward(enc1));
        if (fuse) enc2 = enc2.Plus(csff_enc2!.forward(encoderOuts![1])).Plus(csff_dec2!.forward(decoderOuts![1]));
        var enc3 = encoder_level3.forward(down23.forward(enc2));
        if (fuse) enc3 = enc3.Plus(csff_enc3!.forward(encoderOuts![2])).Plus(csff_dec3!.forward(decoderOuts![2]));
        return new[] { enc1.MoveToOuterDisposeScope(), enc2.MoveToOuterDisposeScope(), enc3.MoveToOuterDisposeScope() };
    }
}

/// <summary>
/// MPRNet's 3-level U-Net <c>Decoder</c>: d3 = level3(e3); d2 = level2(up32(d3) + skip_attn2(e2));
/// d1 = level1(up21(d2) + skip_attn1(e1)). Returns [d1, d2, d3].
/// </summary>
public sealed class MprDecoder : nn.Module
{
    private readonly nn.Module<Tensor, Tensor> decoder_level1;
    private readonly nn.Module<Tensor, Tensor> decoder_level2;
    private readonly nn.Module<Tensor, Tensor> decoder_level3;
    private readonly ChannelAttentionBlock skip_attn1;
    private readonly ChannelAttentionBlock skip_attn2;
    private readonly MprSkipUpSample up21;
    private readonly MprSkipUpSample up32;

    /// <summary>Creates the decoder at widths n, n+s, n+2s.</summary>
    public MprDecoder(long nFeat, long kernelSize, long reduction, nn.Module<Tensor, Tensor> act, bool bias, long scaleUnetFeats) : base("Decoder")
    {
        long c1 = nFeat, c2 = nFeat + scaleUnetFeats, c3 = nFeat + 2 * scaleUnetFeats;
        decoder_level1 = MprConv.Cabs(2, c1, kernelSize, reduction, bias, act);
        decoder_level2 = MprConv.Cabs(2, c2, kernelSize, reduction, bias, act);
        decoder_level3 = MprConv.Cabs(2, c3, kernelSize, reduction, bias, act);
        skip_attn1 = new ChannelAttentionBlock(c1, kernelSize, reduction, bias, act);
        skip_attn2 = new ChannelAttentionBlock(c2, kernelSize, reduction, bias, act);
        up21 = new MprSkipUpSample(c1, scaleUnetFeats);
        up32 = new MprSkipUpSample(c2, scaleUnetFeats);
        RegisterComponents();
    }

    /// <summary>
    /// Returns [d1, d2, d3] from [e1, e2, e3]. <paramref name="levelHook"/>, when given, is applied to each level's
    /// output as soon as it is computed (level 3 first), so a change at a coarse level also flows into the finer ones;
    /// its first argument is the level (1, 2, 3).
    /// </summary>
    public Tensor[] forward(Tensor[] encoderOuts, Func<int, Tensor, Tensor>? levelHook = null)
    {
        using var scope = NewDisposeScope();
        var dec3 = decoder_level3.forward(encoderOuts[2]);
        if (levelHook is not null) dec3 = levelHook(3, dec3);
        var dec2 = decoder_level2.forward(up32.forward(dec3, skip_attn2.forward(encoderOuts[1])));
        if (levelHook is not null) dec2 = levelHook(2, dec2);
        var dec1 = decoder_level1.forward(up21.forward(dec2, skip_attn1.forward(encoderOuts[0])));
        if (levelHook is not null) dec1 = levelHook(1, dec1);
        return new[] { dec1.MoveToOuterDisposeScope(), dec2.MoveToOuterDisposeScope(), dec3.MoveToOuterDisposeScope() };
    }
}

/// <summary>
/// MPRNet's original-resolution subnetwork <c>ORSNet</c> (width n+o): three ORBs, after each of which the stage-2
/// encoder and decoder features of one level are upsampled to full size, projected (1×1) and added.
/// </summary>
public sealed class OriginalResolutionSubnet : nn.Module
{
    private readonly OriginalResolutionBlock orb1;
    private readonly OriginalResolutionBlock orb2;
    private readonly OriginalResolutionBlock orb3;
    private readonly MprUpSample up_enc1;
    private readonly MprUpSample up_dec1;
    private readonly nn.Module<Tensor, Tensor> up_enc2;
    private readonly nn.Module<Tensor, Tensor> up_dec2;
    private readonly VerifiedConv2d conv_enc1;
    private readonly VerifiedConv2d conv_enc2;
    private readonly VerifiedConv2d conv_enc3;
    private readonly VerifiedConv2d conv_dec1;
    private readonly VerifiedConv2d conv_dec2;
    private readonly VerifiedConv2d conv_dec3;

    /// <summary>Creates the subnetwork; every CAB shares <paramref name="act"/>.</summary>
    public OriginalResolutionSubnet(long nFeat, long scaleOrsnetFeats, long kernelSize, long reduction, nn.Module<Tensor, Tensor> act, bool bias, long scaleUnetFeats, int numCab)
        : base("ORSNet")
    {
        var width = nFeat + scaleOrsnetFeats;
        orb1 = new OriginalResolutionBlock(width, kernelSize, reduction, bias, act, numCab);
        orb2 = new OriginalResolutionBlock(width, kernelSize, reduction, bias, act, numCab);
        orb3 = new OriginalResolutionBlock(width, kernelSize, reduction, bias, act, numCab);
        up_enc1 = new MprUpSample(nFeat, scaleUnetFeats);
        up_dec1 = new MprUpSample(nFeat, scaleUnetFeats);
        up_enc2 = nn.Sequential(("0", new MprUpSample(nFeat + scaleUnetFeats, scaleUnetFeats)), ("1", new MprUpSample(nFeat, scaleUnetFeats)));
        up_dec2 = nn.Sequential(("0", new MprUpSample(nFeat + scaleUnetFeats, scaleUnetFeats)), ("1", new MprUpSample(nFeat, scaleUnetFeats)));
        conv_enc1 = VerifiedConv2d.Create(nFeat, width, 1, bias: bias);
        conv_enc2 = VerifiedConv2d.Create(nFeat, width, 1, bias: bias);
        conv_enc3 = VerifiedConv2d.Create(nFeat, width, 1, bias: bias);
        conv_dec1 = VerifiedConv2d.Create(nFeat, width, 1, bias: bias);
        conv_dec2 = VerifiedConv2d.Create(nFeat, width, 1, bias: bias);
        conv_dec3 = VerifiedConv2d.Create(nFeat, width, 1, bias: bias);
        RegisterComponents();
    }

    /// <summary>Runs the three ORBs on <paramref name="x"/> with the stage-2 encoder/decoder features fused in.</summary>
    public Tensor forward(Tensor x, Tensor[] encoderOuts, Tensor[] decoderOuts)
    {
        using var scope = NewDisposeScope();
        x = orb1.forward(x);
        x = x.Plus(conv_enc1.forward(encoderOuts[0])).Plus(conv_dec1.forward(decoderOuts[0]));
        x = orb2.forward(x);
        x = x.Plus(conv_enc2.forward(up_enc1.forward(encoderOuts[1]))).Plus(conv_dec2.forward(up_dec1.forward(decoderOuts[1])));
        x = orb3.forward(x);
        x = x.Plus(conv_enc3.forward(up_enc2.forward(encoderOuts[2]))).Plus(conv_dec3.forward(up_dec2.forward(decoderOuts[2])));
        return x.MoveToOuterDisposeScope();
    }
}
